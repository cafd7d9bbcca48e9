//! One simulated 82599 port: the register file with its side effects, delayed state changes,
//! resets, queue state and the checker's register rules. The data path is in `rx.rs` and
//! `tx.rs`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tock_registers::RegisterLongName;
use tock_registers::fields::Field;

use super::dma::Registry;
use super::frame::{Frame, FramePool};
use super::report::{Direction, Report, Reports, RingState, Severity};
use super::{BadWriteBack, Delayed, ModelCounters, PortConfig, Timing};
use crate::regs::Access;
use crate::regs::ixgbe::{
    AUTOC, CTRL, CTRL_EXT, DCA_RXCTRL, DMATXCTL, DTXMXSZRQ, EEC, EICR, EIMC, EIMS, FCTRL, GPIE,
    HLREG0, IVAR, LINKS, RAH, RDLEN, RDRXCTL, RTTDCS, RXCTRL, RXDCTL, RXPBSIZE, RegisterId,
    SECRXCTRL, SECRXSTAT, SRRCTL, STATUS, SW_FW_SYNC, SWSM, TDLEN, TXDCTL, TXPBSIZE, lookup,
};

/// Bytes of register window a [`SimBar`](super::SimBar) covers: the 128 KiB register space plus
/// the flash window, 512 KiB as the research notes suggest (§0.3).
pub(crate) const BAR_LEN: usize = 512 * 1024;
/// Queues per direction.
pub(crate) const QUEUES: usize = 128;
/// Descriptor size in bytes (advanced and legacy alike).
pub(crate) const DESC: u64 = 16;

/// The mask of a field in its register's position.
pub(crate) fn fmask<R: RegisterLongName>(f: Field<u32, R>) -> u32 {
    f.mask << f.shift
}

/// Where each register's storage starts in the flat register file (aliases share their
/// target's storage: research notes §0.2).
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

/// Delays of one timing mode.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delays {
    reads: u32,
    reset: Duration,
    eeprom: Duration,
    dma_init: Duration,
    queue_enable: Duration,
    link: Duration,
}

impl Delays {
    fn of(t: Timing) -> Self {
        match t {
            Timing::Fast => Delays {
                reads: 2,
                reset: Duration::ZERO,
                eeprom: Duration::ZERO,
                dma_init: Duration::ZERO,
                queue_enable: Duration::ZERO,
                link: Duration::ZERO,
            },
            Timing::Realistic => Delays {
                reads: 1,
                reset: Duration::from_millis(1),
                eeprom: Duration::from_millis(5),
                dma_init: Duration::from_millis(5),
                queue_enable: Duration::from_micros(200),
                link: Duration::from_millis(300),
            },
        }
    }

    fn of_kind(&self, d: Delayed) -> Duration {
        match d {
            Delayed::Reset => self.reset,
            Delayed::EepromAutoRead => self.eeprom,
            Delayed::DmaInit => self.dma_init,
            Delayed::RxEnable | Delayed::TxEnable => self.queue_enable,
            Delayed::Link => self.link,
        }
    }
}

/// A delayed state change in progress: it fires after a minimum time (wall time on reads,
/// virtual time on steps) and a minimum number of reads of its register (notes §0.5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delay {
    kind: Delayed,
    wall: Instant,
    virt: u64,
    reads: u32,
}

impl Delay {
    fn new(kind: Delayed, virt: u64) -> Self {
        Delay {
            kind,
            wall: Instant::now(),
            virt,
            reads: 0,
        }
    }
}

/// State of a queue's enable handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QState {
    Disabled,
    Enabling,
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
    fn new() -> Self {
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
    fn new() -> Self {
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

/// Who holds a buffer address (world-wide, for the double-post checks of §7).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holder {
    /// (port, queue, slot) of the RX descriptor that holds it.
    pub(crate) rx: Option<(u16, u16, u32)>,
    /// TX descriptors (any port) that still have to read it.
    pub(crate) tx: u32,
}

/// What a device method needs from the world besides the device.
pub(crate) struct Ctx<'a> {
    pub(crate) dma: &'a Registry,
    pub(crate) posted: &'a mut HashMap<u64, Holder>,
    pub(crate) pool: &'a mut FramePool,
    pub(crate) port: u16,
}

/// One simulated port.
pub(crate) struct Device {
    pub(crate) cfg: PortConfig,
    delays: Delays,
    pub(crate) regs: Box<[u32]>,
    pub(crate) access_index: u64,
    pub(crate) reports: Reports,
    pub(crate) removed: bool,
    pub(crate) virt: u64,
    never: HashSet<Delayed>,
    lan_id: u32,

    reset: Option<Delay>,
    rst_written: Option<Instant>,
    rst_pedantic_done: bool,
    reset_done: Option<Instant>,
    settle_checked: bool,
    ard: Option<Delay>,
    dmaidone: Option<Delay>,
    ard_seen: bool,
    dmaidone_seen: bool,
    eimc_after_reset: bool,

    pub(crate) link_up: bool,
    link: Option<Delay>,
    pub(crate) carrier: bool,

    pub(crate) rxq: Vec<RxQ>,
    pub(crate) txq: Vec<TxQ>,
    pub(crate) fifo: VecDeque<(Frame, u16)>,
    pub(crate) fifo_bytes: usize,
    /// Valid receive addresses (RAR entries with AV).
    pub(crate) rar: Vec<[u8; 6]>,
    /// GORCH-style latches: (slot of the H register, latched value).
    latches: Vec<(usize, u32)>,
    pub(crate) counters: ModelCounters,
    once: HashSet<(&'static str, u32)>,
    /// Faults for the next frames' receive write-backs, one per frame (`Port::bad_write_backs`).
    pub(crate) bad_write_backs: VecDeque<BadWriteBack>,
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

/// Reserved bits of the registers where the checker looks for stray ones (§7: "reserved masks
/// are needed only for the registers the driver touches"): every bit no declared field covers.
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

impl Device {
    pub(crate) fn new(cfg: PortConfig, lan_id: u32) -> Self {
        let mut d = Device {
            delays: Delays::of(cfg.timing),
            cfg,
            regs: vec![0u32; layout().total].into_boxed_slice(),
            access_index: 0,
            reports: Reports::default(),
            removed: false,
            virt: 0,
            never: HashSet::new(),
            lan_id,
            reset: None,
            rst_written: None,
            rst_pedantic_done: true,
            reset_done: None,
            settle_checked: true,
            ard: None,
            dmaidone: None,
            ard_seen: false,
            dmaidone_seen: false,
            eimc_after_reset: false,
            link_up: false,
            link: None,
            carrier: true,
            rxq: (0..QUEUES).map(|_| RxQ::new()).collect(),
            txq: (0..QUEUES).map(|_| TxQ::new()).collect(),
            fifo: VecDeque::new(),
            fifo_bytes: 0,
            rar: Vec::new(),
            latches: Vec::new(),
            counters: ModelCounters::default(),
            once: HashSet::new(),
            bad_write_backs: VecDeque::new(),
        };
        d.load_reset_values();
        // Power-on happened long ago: the EEPROM has been read and DMA initialised; the link
        // comes up after its bring-up delay.
        let eec = d.get(RegisterId::EEC, 0);
        d.set(RegisterId::EEC, 0, EEC::ARD::SET.modify(eec));
        let rdrxctl = d.get(RegisterId::RDRXCTL, 0);
        d.set(
            RegisterId::RDRXCTL,
            0,
            RDRXCTL::DMAIDONE::SET.modify(rdrxctl),
        );
        d.link = Some(Delay::new(Delayed::Link, 0));
        d
    }

    // ---- storage -------------------------------------------------------------------------

    #[inline]
    pub(crate) fn get(&self, id: RegisterId, idx: usize) -> u32 {
        self.regs[slot(id, idx)]
    }

    #[inline]
    pub(crate) fn set(&mut self, id: RegisterId, idx: usize, v: u32) {
        self.regs[slot(id, idx)] = v;
    }

    /// Every register to its reset value (§2). Overrides of the datasheet file's reset values:
    /// `RAL`/`RAH[0]` hold the port's MAC from the EEPROM with AV set (DS 8.2.3.7.9), which a
    /// datasheet file cannot know; strict mode fills the MTA with garbage, since its reset value
    /// is not guaranteed (DS 8.2.3.7.7 "should be zeroed by software").
    fn load_reset_values(&mut self) {
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

    // ---- reports ---------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn report(
        &mut self,
        severity: Severity,
        rule: &'static str,
        section: &'static str,
        register: Option<&'static str>,
        value: Option<u64>,
        ring: Option<RingState>,
        detail: String,
    ) {
        self.reports.push(Report {
            severity,
            rule,
            register,
            value,
            section,
            access_index: self.access_index,
            ring,
            detail,
        });
    }

    /// True the first time `(rule, key)` is seen since the last reset.
    pub(crate) fn once(&mut self, rule: &'static str, key: u32) -> bool {
        self.once.insert((rule, key))
    }

    pub(crate) fn rx_ring(&self, q: usize) -> RingState {
        RingState {
            direction: Direction::Rx,
            queue: q as u16,
            head: self.get(RegisterId::RDH, q),
            tail: self.get(RegisterId::RDT, q),
            len: self.rxq[q].n,
        }
    }

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

    // ---- delays ------------------------------------------------------------------------------

    pub(crate) fn set_never(&mut self, d: Delayed, never: bool) {
        if never {
            self.never.insert(d);
        } else {
            self.never.remove(&d);
        }
    }

    /// Counts a read of a delayed register; true when the delay has run out.
    /// Counts one read of a delayed bit's register: true when the delay pending in `pending`
    /// is due now (the caller then finishes it); otherwise it stays pending, one read older.
    /// (A function of the fields it needs, so callers can pass one of `self`'s own fields.)
    fn fires_on_read(
        never: &HashSet<Delayed>,
        delays: &Delays,
        pending: &mut Option<Delay>,
    ) -> bool {
        let Some(delay) = pending else {
            return false;
        };
        delay.reads = delay.reads.saturating_add(1);
        !never.contains(&delay.kind)
            && delay.reads >= delays.reads
            && delay.wall.elapsed() >= delays.of_kind(delay.kind)
    }

    fn due_on_step(&self, delay: &Delay) -> bool {
        !self.never.contains(&delay.kind)
            && u128::from(self.virt.saturating_sub(delay.virt))
                >= self.delays.of_kind(delay.kind).as_nanos()
    }

    /// Advances virtual time to `virt` (ns) and fires the delays that have run out.
    pub(crate) fn advance(&mut self, virt: u64, ctx: &mut Ctx<'_>) {
        self.virt = virt;
        if self.removed {
            return;
        }
        if let Some(d) = self.reset
            && self.due_on_step(&d)
        {
            self.finish_reset();
        }
        if let Some(d) = self.ard
            && self.due_on_step(&d)
        {
            self.finish_ard();
        }
        if let Some(d) = self.dmaidone
            && self.due_on_step(&d)
        {
            self.finish_dmaidone();
        }
        if let Some(d) = self.link
            && self.due_on_step(&d)
        {
            self.finish_link();
        }
        for q in 0..QUEUES {
            if let Some(d) = self.rxq[q].delay
                && self.due_on_step(&d)
            {
                self.latch_rx(q, ctx);
            }
            if let Some(d) = self.txq[q].delay
                && self.due_on_step(&d)
            {
                self.latch_tx(q, ctx);
            }
        }
    }

    // ---- resets and link ---------------------------------------------------------------------

    /// Everything a device reset does at once (§1 S2): registers to reset values, queues
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
    }

    /// A reset the device does on its own (fault injection): as a CTRL.RST write, but not a
    /// driver access, so no access rules apply.
    pub(crate) fn spontaneous_reset(&mut self, ctx: &mut Ctx<'_>) {
        self.start_reset(true, ctx);
        let s = slot(RegisterId::CTRL, 0);
        self.regs[s] = fmask(CTRL::RST);
        self.rst_pedantic_done = true;
    }

    fn start_reset(&mut self, full: bool, ctx: &mut Ctx<'_>) {
        if full {
            self.device_reset(ctx);
        }
        self.link_down();
        self.link = None;
        self.reset = Some(Delay::new(Delayed::Reset, self.virt));
        self.rst_written = Some(Instant::now());
        self.rst_pedantic_done = false;
    }

    fn finish_reset(&mut self) {
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

    fn finish_ard(&mut self) {
        self.ard = None;
        let v = self.get(RegisterId::EEC, 0);
        self.set(RegisterId::EEC, 0, EEC::ARD::SET.modify(v));
    }

    fn finish_dmaidone(&mut self) {
        self.dmaidone = None;
        let v = self.get(RegisterId::RDRXCTL, 0);
        self.set(RegisterId::RDRXCTL, 0, RDRXCTL::DMAIDONE::SET.modify(v));
    }

    fn finish_link(&mut self) {
        self.link = None;
        if self.carrier && !self.link_up {
            self.link_up = true;
            let links = LINKS::LINK_UP::SET + LINKS::LINK_SPEED::SPEED_10G + LINKS::KX_AN_COMP::SET;
            self.set(RegisterId::LINKS, 0, links.value);
            self.raise(fmask(EICR::LSC));
        }
    }

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

    /// Sets interrupt causes in EICR.
    pub(crate) fn raise(&mut self, causes: u32) {
        let s = slot(RegisterId::EICR, 0);
        self.regs[s] |= causes;
    }

    /// Raises the EICR cause IVAR maps queue `q` of direction `dir` to, if any.
    pub(crate) fn raise_queue(&mut self, dir: Direction, q: usize) {
        let ivar = self.get(RegisterId::IVAR, q / 2);
        let (vec, valid) = match (dir, q % 2) {
            (Direction::Rx, 0) => (IVAR::RX0_VECTOR.read(ivar), IVAR::RX0_VALID.is_set(ivar)),
            (Direction::Tx, 0) => (IVAR::TX0_VECTOR.read(ivar), IVAR::TX0_VALID.is_set(ivar)),
            (Direction::Rx, _) => (IVAR::RX1_VECTOR.read(ivar), IVAR::RX1_VALID.is_set(ivar)),
            (Direction::Tx, _) => (IVAR::TX1_VECTOR.read(ivar), IVAR::TX1_VALID.is_set(ivar)),
        };
        if valid && vec < 16 {
            self.raise(1 << vec);
        }
    }

    // ---- register reads ----------------------------------------------------------------------

    fn access_timing_checks(&mut self) {
        if !self.rst_pedantic_done
            && let Some(t) = self.rst_written
        {
            if t.elapsed() < Duration::from_millis(1) {
                self.rst_pedantic_done = true;
                self.report(
                    Severity::Pedantic,
                    "access-within-1ms-of-reset",
                    "8.2.3.1.1",
                    Some("CTRL"),
                    None,
                    None,
                    "a register was accessed less than 1 ms after CTRL.RST was set (the datasheet asks to wait about 1 ms before polling it or touching any register)".into(),
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
            if self.once("undefined-offset", offset as u32) {
                self.report(
                    Severity::Warn,
                    "undefined-offset",
                    "8.1",
                    None,
                    Some(offset as u64),
                    None,
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
            R::EICR => {
                // Read-clear (DS 8.2.3.5.1); with GPIE.OCD ("other clear disable") only the
                // queue causes clear, the other causes (bits 29:16) stay.
                let keep = if GPIE::OCD.is_set(self.get(R::GPIE, 0)) {
                    let others = EICR::FLOW_DIR::SET
                        + EICR::RX_MISS::SET
                        + EICR::PCI_EXCEPTION::SET
                        + EICR::MAILBOX::SET
                        + EICR::LSC::SET
                        + EICR::LINKSEC::SET
                        + EICR::MNG::SET
                        + EICR::GPI_SDP0::SET
                        + EICR::GPI_SDP1::SET
                        + EICR::GPI_SDP2::SET
                        + EICR::ECC::SET;
                    others.value
                } else {
                    0
                };
                self.regs[d.slot] = v & keep;
                v
            }
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
                if self.once("read-write-only", d.slot as u32) {
                    self.report(
                        Severity::Warn,
                        "read-write-only",
                        d.named.info().section,
                        Some(d.named.info().name),
                        None,
                        None,
                        "read of a write-only register; it reads 0".into(),
                    );
                }
                0
            }
            Access::Rc | Access::RcW1c => self.read_clear(d, v),
        }
    }

    /// Statistics are clear-on-read; the 36-bit ones latch their high half when the low half is
    /// read and clear the whole counter when the high half is read (notes §5).
    fn read_clear(&mut self, d: Decoded, v: u32) -> u32 {
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
                    if self.once("stat-high-without-low", d.slot as u32) {
                        self.report(
                            Severity::Pedantic,
                            "stat-high-without-low",
                            d.named.info().section,
                            Some(d.named.info().name),
                            Some(u64::from(v)),
                            None,
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

    // ---- register writes ---------------------------------------------------------------------

    /// A 32-bit write at a dword-aligned offset inside the BAR.
    pub(crate) fn write32(&mut self, offset: usize, v: u32, ctx: &mut Ctx<'_>) {
        self.access_index += 1;
        if self.removed {
            return;
        }
        self.access_timing_checks();
        let Some(d) = decode(offset) else {
            if self.once("undefined-offset", offset as u32) {
                self.report(
                    Severity::Warn,
                    "undefined-offset",
                    "8.1",
                    None,
                    Some(offset as u64),
                    None,
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
                Severity::Warn,
                "write-during-reset",
                "4.6.3.2",
                Some(info.name),
                Some(u64::from(v)),
                None,
                "write while the device reset is still in progress (CTRL.RST reads 1); the device drops it".into(),
            );
            return;
        }
        if !self.settle_checked {
            self.settle_checked = true;
            if let Some(t) = self.reset_done
                && t.elapsed() < Duration::from_millis(10)
            {
                self.report(
                    Severity::Warn,
                    "write-before-reset-settled",
                    "4.6.3.2",
                    Some(info.name),
                    Some(u64::from(v)),
                    None,
                    format!(
                        "first write {:?} after the reset completed; the datasheet asks to wait at least 10 ms",
                        t.elapsed()
                    ),
                );
            }
        }
        if is_datapath_config(d.id)
            && !(self.ard_seen && self.dmaidone_seen)
            && self.once("config-before-init-done", 0)
        {
            self.report(
                Severity::Warn,
                "config-before-init-done",
                "4.6.3",
                Some(info.name),
                Some(u64::from(v)),
                None,
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
                Severity::Warn,
                "reserved-bits-written",
                info.section,
                Some(info.name),
                Some(u64::from(v)),
                None,
                format!("1s written to reserved bits {reserved:#x}"),
            );
        }
        let old = self.regs[d.slot];
        let ro = ro_bits(d.id);
        if ro != 0 && (old ^ v) & ro != 0 {
            self.report(
                Severity::Warn,
                "write-ro-bits",
                info.section,
                Some(info.name),
                Some(u64::from(v)),
                None,
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
            R::EICS => self.raise(v),
            R::EIMS => {
                if v == 0 {
                    self.report(
                        Severity::Info,
                        "eims-zero",
                        "8.2.3.5.3",
                        Some("EIMS"),
                        Some(0),
                        None,
                        "EIMS written with 0: writing 0 to EIMS changes nothing (it is write-1-to-set); masking goes through EIMC".into(),
                    );
                }
                let rtxq = EIMS::RTXQ.read(v);
                for b in 0..16 {
                    if rtxq & (1 << b) != 0
                        && !self.ivar_maps_to(b)
                        && self.once("eims-without-ivar", b)
                    {
                        self.report(
                            Severity::Warn,
                            "interrupt-without-ivar",
                            "8.2.3.5.16",
                            Some("EIMS"),
                            Some(u64::from(v)),
                            None,
                            format!("queue interrupt cause {b} enabled, but no valid IVAR entry maps a queue to it"),
                        );
                    }
                }
                self.regs[d.slot] |= v;
            }
            R::EIMC => {
                self.eimc_after_reset = true;
                let s = slot(R::EIMS, 0);
                self.regs[s] &= !v;
            }
            R::AUTOC => {
                if AUTOC::RESTART_AN.is_set(v) {
                    if !SW_FW_SYNC::SW_MAC_CSR_SM.is_set(self.get(R::SW_FW_SYNC, 0))
                        && self.once("autoc-without-semaphore", 0)
                    {
                        self.report(
                            Severity::Info,
                            "autoc-without-semaphore",
                            "8.2.3.22.19",
                            Some("AUTOC"),
                            Some(u64::from(v)),
                            None,
                            "AUTOC written without holding SW_FW_SYNC.SW_MAC_CSR_SM (Linux takes it; harmless without manageability firmware)".into(),
                        );
                    }
                    // Restart_AN clears itself; the link drops and comes back (S7).
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
                        Severity::Warn,
                        "filter-changed-while-rxen",
                        "8.2.3.7.1",
                        Some(info.name),
                        Some(u64::from(v)),
                        None,
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
                        Severity::Warn,
                        "rah0-av-cleared",
                        "8.2.3.7.9",
                        Some(info.name),
                        Some(u64::from(v)),
                        None,
                        "RAH[0].AV cleared while FCTRL.UPE = 0: the port's own address no longer matches, so unicast frames to it are dropped".into(),
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
                        Severity::Error,
                        "ring-register-written-while-enabled",
                        info.section,
                        Some(info.name),
                        Some(u64::from(v)),
                        Some(ring),
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
                        Severity::Error,
                        "ring-register-written-while-enabled",
                        info.section,
                        Some(info.name),
                        Some(u64::from(v)),
                        Some(ring),
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
                if d.idx == 0 && v != expected && self.once("packet-buffer-size", d.id as u32) {
                    let kb = if d.id == R::RXPBSIZE {
                        RXPBSIZE::SIZE.read(v)
                    } else {
                        TXPBSIZE::SIZE.read(v)
                    };
                    self.report(
                        Severity::Info,
                        "packet-buffer-size",
                        "4.6.11.3.4",
                        Some(info.name),
                        Some(u64::from(v)),
                        None,
                        format!("packet buffer 0 set to {kb} KB; with a single buffer DS 4.6.11.3.4 keeps the full size ({:#x})", expected),
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
                        Severity::Warn,
                        "write-read-only",
                        info.section,
                        Some(info.name),
                        Some(u64::from(v)),
                        None,
                        format!(
                            "write of {v:#x} to a read-only register (it reads {old:#x}); ignored"
                        ),
                    );
                }
            }
        }
    }

    fn arbiter_check(&mut self, name: &'static str, v: u32) {
        if !RTTDCS::ARBDIS.is_set(self.get(RegisterId::RTTDCS, 0))
            && self.once("tx-arbiter-enabled", 0)
        {
            self.report(
                Severity::Info,
                "tx-arbiter-enabled",
                "4.6.8",
                Some(name),
                Some(u64::from(v)),
                None,
                "TX packet buffer / request size programmed while RTTDCS.ARBDIS = 0; DS 4.6.8 disables the arbiter around it".into(),
            );
        }
    }

    fn ivar_maps_to(&self, vector: u32) -> bool {
        (0..RegisterId::IVAR.info().count).any(|i| {
            let v = self.get(RegisterId::IVAR, i);
            (IVAR::RX0_VALID.is_set(v) && IVAR::RX0_VECTOR.read(v) == vector)
                || (IVAR::TX0_VALID.is_set(v) && IVAR::TX0_VECTOR.read(v) == vector)
                || (IVAR::RX1_VALID.is_set(v) && IVAR::RX1_VECTOR.read(v) == vector)
                || (IVAR::TX1_VALID.is_set(v) && IVAR::TX1_VECTOR.read(v) == vector)
        })
    }

    /// Checks when RXCTRL.RXEN goes from 0 to 1 (DS 4.6.7).
    fn rxen_rising(&mut self, v: u32) {
        use RegisterId as R;
        let hl = self.get(R::HLREG0, 0);
        let rd = self.get(R::RDRXCTL, 0);
        if HLREG0::RXCRCSTRP.is_set(hl) != RDRXCTL::CRCSTRIP.is_set(rd) {
            self.report(
                Severity::Error,
                "crc-strip-mismatch",
                "4.6.7",
                Some("RXCTRL"),
                Some(u64::from(v)),
                None,
                format!(
                    "RXEN set while HLREG0.RXCRCSTRP = {} but RDRXCTL.CRCSTRIP = {}; they must be equal",
                    HLREG0::RXCRCSTRP.read(hl),
                    RDRXCTL::CRCSTRIP.read(rd)
                ),
            );
        }
        if !CTRL_EXT::NS_DIS.is_set(self.get(R::CTRL_EXT, 0)) {
            self.report(
                Severity::Warn,
                "ns-dis-not-set",
                "4.6.7",
                Some("CTRL_EXT"),
                Some(u64::from(self.get(R::CTRL_EXT, 0))),
                None,
                "RXEN set while CTRL_EXT.NS_DIS = 0; DS 4.6.7 sets it during RX init".into(),
            );
        }
        if RDRXCTL::RSCFRSTSIZE.read(rd) != 0
            || !RDRXCTL::RSCACKC.is_set(rd)
            || !RDRXCTL::FCOE_WRFIX.is_set(rd)
        {
            self.report(
                Severity::Warn,
                "rdrxctl-rsc-bits",
                "8.2.3.8.8",
                Some("RDRXCTL"),
                Some(u64::from(rd)),
                None,
                "RDRXCTL.RSCFRSTSIZE must be written 0 and RSCACKC and FCOE_WRFIX 1 (\"software should set this bit\")".into(),
            );
        }
        let mut any_enabled = false;
        for q in 0..QUEUES {
            if self.rxq[q].state != QState::Disabled {
                any_enabled = true;
            }
            if self.get(R::RDLEN, q) != 0 || self.rxq[q].state != QState::Disabled {
                self.dca_check(q);
            }
        }
        if !any_enabled {
            self.report(
                Severity::Warn,
                "rxen-before-queues",
                "4.6.7",
                Some("RXCTRL"),
                Some(u64::from(v)),
                None,
                "RXEN set before any RX queue was enabled; DS 4.6.7 enables the RX path only after all other settings".into(),
            );
        }
        if !SECRXCTRL::RX_DIS.is_set(self.get(R::SECRXCTRL, 0))
            && self.once("secrx-handshake-skipped", 0)
        {
            self.report(
                Severity::Info,
                "secrx-handshake-skipped",
                "4.6.7",
                Some("RXCTRL"),
                Some(u64::from(v)),
                None,
                "RXEN changed without the SECRXCTRL.RX_DIS / SECRXSTAT.SECRX_RDY handshake".into(),
            );
        }
    }

    pub(crate) fn dca_check(&mut self, q: usize) {
        if DCA_RXCTRL::RESERVED_12.is_set(self.get(RegisterId::DCA_RXCTRL, q))
            && self.once("dca-rxctrl-bit12", q as u32)
        {
            self.report(
                Severity::Warn,
                "dca-rxctrl-bit12",
                "4.6.7",
                Some("DCA_RXCTRL"),
                Some(u64::from(self.get(RegisterId::DCA_RXCTRL, q))),
                None,
                format!("DCA_RXCTRL[{q}] bit 12 is still 1 while receiving; DS 4.6.7 clears it"),
            );
        }
    }

    fn write_head(&mut self, dir: Direction, q: usize, v: u32) {
        let (id, state, section) = match dir {
            Direction::Rx => (RegisterId::RDH, self.rxq[q].state, "8.2.3.8.4"),
            Direction::Tx => (RegisterId::TDH, self.txq[q].state, "8.2.3.9.8"),
        };
        let name = id.info().name;
        let cur = self.get(id, q);
        let v16 = v & 0xFFFF;
        if state == QState::Disabled {
            // §10: accepted while the queue is disabled (Linux, DPDK and ixy all write 0).
            self.set(id, q, v16);
            return;
        }
        let ring = match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        };
        if v16 == cur {
            self.report(
                Severity::Pedantic,
                "head-written",
                section,
                Some(name),
                Some(u64::from(v)),
                Some(ring),
                "head register written while the queue is enabled; it is read-only (same value, so harmless)".into(),
            );
        } else {
            self.report(
                Severity::Warn,
                "head-written",
                section,
                Some(name),
                Some(u64::from(v)),
                Some(ring),
                format!("head register written with {v16} (it is {cur}) while the queue is enabled; it is read-only, the write is ignored"),
            );
        }
    }

    // ---- queue enable --------------------------------------------------------------------------

    fn write_rxdctl(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let want = RXDCTL::ENABLE.is_set(v);
        match (self.rxq[q].state, want) {
            (QState::Disabled, true) => {
                self.rxq[q].state = QState::Enabling;
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

    fn write_txdctl(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let want = TXDCTL::ENABLE.is_set(v);
        if TXDCTL::SWFLSH.is_set(v) {
            self.flush_tx_writebacks(q, ctx);
        }
        let v = TXDCTL::SWFLSH::CLEAR.modify(v);
        match (self.txq[q].state, want) {
            (QState::Disabled, true) => {
                if DMATXCTL::TE.is_set(self.get(RegisterId::DMATXCTL, 0)) {
                    self.txq[q].state = QState::Enabling;
                    self.txq[q].delay = Some(Delay::new(Delayed::TxEnable, self.virt));
                } else {
                    let ring = self.tx_ring(q);
                    self.report(
                        Severity::Error,
                        "tx-enable-without-te",
                        "4.6.8",
                        Some("TXDCTL"),
                        Some(u64::from(v)),
                        Some(ring),
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

    /// Validates a ring at queue enable (§7 "Queue setup"). Returns false if it is unusable.
    fn validate_ring(
        &mut self,
        dir: Direction,
        q: usize,
        base: u64,
        len_bytes: u32,
        ctx: &Ctx<'_>,
    ) -> bool {
        let (bal, blen, section) = match dir {
            Direction::Rx => ("RDBAL", "RDLEN", "8.2.3.8.1"),
            Direction::Tx => ("TDBAL", "TDLEN", "8.2.3.9.5"),
        };
        let ring = match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        };
        let mut ok = true;
        if base == 0 || !base.is_multiple_of(128) {
            self.report(
                Severity::Error,
                "ring-base-invalid",
                section,
                Some(bal),
                Some(base),
                Some(ring),
                format!("{dir:?} queue {q} enabled with ring base {base:#x}: it must be set and 128-byte aligned"),
            );
            ok = false;
        }
        let len_field = match dir {
            Direction::Rx => fmask(RDLEN::LEN),
            Direction::Tx => fmask(TDLEN::LEN),
        };
        if len_bytes == 0 || !len_bytes.is_multiple_of(128) || len_bytes & !len_field != 0 {
            self.report(
                Severity::Error,
                "ring-length-invalid",
                "7.2.3.3",
                Some(blen),
                Some(u64::from(len_bytes)),
                Some(ring),
                format!("{dir:?} queue {q} enabled with ring length {len_bytes:#x} bytes: it must be non-zero, a multiple of 128 and fit the LEN field ({len_field:#x})"),
            );
            ok = false;
        }
        if ok && let Err(fault) = ctx.dma.resolve(base, len_bytes as usize) {
            self.report(
                Severity::Error,
                "ring-outside-dma-memory",
                section,
                Some(bal),
                Some(base),
                Some(ring),
                format!("{dir:?} queue {q}: the ring [{base:#x}, +{len_bytes}) is not inside one live DMA region: {}", fault.describe()),
            );
            ok = false;
        }
        ok
    }

    pub(crate) fn latch_rx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        self.rxq[q].delay = None;
        self.rxq[q].state = QState::Enabled;
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
                Severity::Error,
                "srrctl-bsizepacket",
                "8.2.3.8.7",
                Some("SRRCTL"),
                Some(u64::from(srrctl)),
                Some(ring),
                format!("RX queue {q} enabled with BSIZEPACKET = {bsize}; it must be 1 to 16 (KB)"),
            );
            ok = false;
        }
        let desctype = SRRCTL::DESCTYPE.read(srrctl);
        if desctype > 1 {
            let ring = self.rx_ring(q);
            self.report(
                Severity::Error,
                "srrctl-desctype",
                "7.1.10",
                Some("SRRCTL"),
                Some(u64::from(srrctl)),
                Some(ring),
                format!("RX queue {q} enabled with DESCTYPE = {desctype:03b}; only legacy (000) and advanced one-buffer (001) are modelled, header split must not be used on the 82599"),
            );
            ok = false;
        }
        if !self.eimc_after_reset && self.once("no-eimc-after-reset", 0) {
            self.report(
                Severity::Info,
                "no-eimc-after-reset",
                "4.6.3.1",
                Some("EIMC"),
                None,
                None,
                "queues enabled but interrupts were not masked through EIMC after the reset".into(),
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

    pub(crate) fn latch_tx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        use RegisterId as R;
        self.txq[q].delay = None;
        self.txq[q].state = QState::Enabled;
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
                Severity::Warn,
                "txdctl-thresholds",
                "8.2.3.9.10",
                Some("TXDCTL"),
                Some(u64::from(v)),
                Some(ring),
                format!("PTHRESH {p} + WTHRESH {w} must not exceed {} on-chip descriptors, and HTHRESH ({h}) must be non-zero when PTHRESH is used", crate::regs::ixgbe::TX_ONCHIP_DESC),
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
        let (hid, tid, section) = match dir {
            Direction::Rx => (RegisterId::RDH, RegisterId::RDT, "4.6.7"),
            Direction::Tx => (RegisterId::TDH, RegisterId::TDT, "4.6.8"),
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
        for (rule, id, v) in [("head-out-of-range", hid, h), ("tail-out-of-range", tid, t)] {
            if v >= n {
                let name = id.info().name;
                self.report(
                    Severity::Error,
                    rule,
                    section,
                    Some(name),
                    Some(u64::from(v)),
                    Some(ring),
                    format!("{dir:?} queue {q} enabled with {name} = {v}, not below the ring size {n}; the queue stops (disable it, write a position inside the ring and enable it again)"),
                );
                ok = false;
            }
        }
        ok
    }

    /// Disables an RX queue: it stops at once and gives every descriptor back.
    pub(crate) fn stop_rx(&mut self, q: usize, ctx: &mut Ctx<'_>) {
        let rq = &mut self.rxq[q];
        rq.state = QState::Disabled;
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
        let tq = &mut self.txq[q];
        tq.state = QState::Disabled;
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

    // ---- tails -------------------------------------------------------------------------------

    /// The common tail checks; returns the accepted new tail and whether the ownership must be
    /// rebuilt from the head (overrun), or None when the write is dropped.
    fn tail_checks(&mut self, dir: Direction, q: usize, v: u32) -> Option<(u32, bool)> {
        let (tid, hid, state, seen, n, section) = match dir {
            Direction::Rx => {
                let r = &self.rxq[q];
                (
                    RegisterId::RDT,
                    RegisterId::RDH,
                    r.state,
                    r.enable_seen,
                    r.n,
                    "4.6.7",
                )
            }
            Direction::Tx => {
                let t = &self.txq[q];
                (
                    RegisterId::TDT,
                    RegisterId::TDH,
                    t.state,
                    t.enable_seen,
                    t.n,
                    "4.6.8",
                )
            }
        };
        let name = tid.info().name;
        let v16 = v & 0xFFFF;
        let ring = match dir {
            Direction::Rx => self.rx_ring(q),
            Direction::Tx => self.tx_ring(q),
        };
        if v16 != 0 && !seen {
            self.report(
                Severity::Error,
                "tail-before-enable",
                section,
                Some(name),
                Some(u64::from(v)),
                Some(ring),
                format!("{dir:?} queue {q}: tail bumped before ENABLE was read as 1 (\"the tail should not be bumped before this bit was read as 1b\")"),
            );
            if self.cfg.strict {
                return None;
            }
        }
        if state != QState::Enabled {
            // Stored; the descriptors are handed over when the queue latches.
            self.set(tid, q, v16);
            return None;
        }
        if n == 0 {
            self.set(tid, q, v16);
            return None;
        }
        if v16 >= n {
            self.report(
                Severity::Error,
                "tail-out-of-range",
                section,
                Some(name),
                Some(u64::from(v)),
                Some(ring),
                format!("tail {v16} is not below the ring size {n}; ignored"),
            );
            return None;
        }
        let h = self.get(hid, q);
        let t_old = self.get(tid, q);
        let own = (t_old + n - h) % n;
        let adv = (v16 + n - t_old) % n;
        if own + adv > n - 1 {
            self.report(
                Severity::Error,
                "tail-overrun",
                "7.1.9",
                Some(name),
                Some(u64::from(v)),
                Some(ring),
                format!("tail moved from {t_old} to {v16} with head at {h}: the device owned {own} descriptors and would get {adv} more, beyond the {} a ring of {n} can hold (tail moved backwards or past the head)", n - 1),
            );
            return Some((v16, true));
        }
        Some((v16, false))
    }

    fn write_rdt(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let Some((t, rebuild)) = self.tail_checks(Direction::Rx, q, v) else {
            return;
        };
        let h = self.get(RegisterId::RDH, q);
        let t_old = self.get(RegisterId::RDT, q);
        self.set(RegisterId::RDT, q, t);
        if rebuild {
            let rq = &mut self.rxq[q];
            for a in rq.owned.iter_mut().filter_map(Option::take) {
                release_rx(ctx.posted, a);
            }
            self.rx_take(q, h, t, ctx);
        } else {
            self.rx_take(q, t_old, t, ctx);
        }
    }

    fn write_tdt(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
        let Some((t, rebuild)) = self.tail_checks(Direction::Tx, q, v) else {
            return;
        };
        let h = self.get(RegisterId::TDH, q);
        let t_old = self.get(RegisterId::TDT, q);
        self.set(RegisterId::TDT, q, t);
        if rebuild {
            let tq = &mut self.txq[q];
            for a in tq.owned.iter_mut().filter_map(Option::take) {
                release_tx(ctx.posted, a);
            }
            self.tx_take(q, h, t, ctx);
        } else {
            self.tx_take(q, t_old, t, ctx);
        }
    }

    // ---- faults --------------------------------------------------------------------------------

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

    /// Adds to a 32-bit statistics counter (wrapping, §5).
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
}

/// Forgets that an RX descriptor holds `addr`.
pub(crate) fn release_rx(posted: &mut HashMap<u64, Holder>, addr: u64) {
    if let Some(h) = posted.get_mut(&addr) {
        h.rx = None;
        if h.tx == 0 {
            posted.remove(&addr);
        }
    }
}

/// Forgets one TX descriptor pointing at `addr`.
pub(crate) fn release_tx(posted: &mut HashMap<u64, Holder>, addr: u64) {
    if let Some(h) = posted.get_mut(&addr) {
        h.tx = h.tx.saturating_sub(1);
        if h.tx == 0 && h.rx.is_none() {
            posted.remove(&addr);
        }
    }
}
