//! One simulated 82599 port: [`PortModel`], its state, and how it reports what the driver did
//! wrong. What it does is spread over the files of [`crate::sim`] by job: the register file
//! (`regfile.rs`), what each register access does (`access.rs`), delays (`timing.rs`), resets and
//! the link (`reset.rs`), interrupts (`interrupts.rs`), statistics (`stats.rs`), queues
//! (`queues.rs`, `tails.rs`), the init-order rules (`init_order.rs`) and the data path (`rx.rs`,
//! `rx_filter.rs`, `tx.rs`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

use super::config::PortConfig;
use super::dma::Registry;
use super::faults::{BadWriteBack, Delayed};
use super::frame::{Frame, FramePool};
use super::interrupts::Msix;
use super::queues::{QUEUES, QueueSet, RxQ, TxQ};
use super::regfile;
use super::report::{Report, Reports};
use super::rules::{Finding, Rule};
use super::timing::{Delay, Delays};
use super::tx::TxDesc;
use crate::regs::ixgbe::{EEC, RDRXCTL, RegisterId};

/// What the model itself counted on one port, cumulative (never cleared by reads or resets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelCounters {
    /// Frames written into RX rings.
    pub rx_frames: u64,
    /// Bytes written into RX rings (after CRC strip).
    pub rx_bytes: u64,
    /// RX descriptors written back.
    pub rx_descriptors: u64,
    /// Frames dropped for lack of descriptors with SRRCTL.DROP_EN (QPRDC).
    pub rx_dropped_no_desc: u64,
    /// Frames dropped because the RX FIFO was full (MPC).
    pub rx_missed: u64,
    /// Frames the L2 filter rejected.
    pub rx_filtered: u64,
    /// Frames dropped for MAC errors (runt, oversize, CRC).
    pub rx_errors: u64,
    /// Frames ignored because RXCTRL.RXEN was 0.
    pub rx_ignored: u64,
    /// Frames dropped because their queue was disabled, or stopped by a violation (an invalid
    /// ring, a ring the device cannot read).
    pub rx_dropped_queue_disabled: u64,
    /// Frames lost because the link was down.
    pub rx_lost_link_down: u64,
    /// Frames that were waiting in the receive FIFO when the device reset.
    pub rx_lost_reset: u64,
    /// Frames transmitted.
    pub tx_frames: u64,
    /// Bytes transmitted (without FCS).
    pub tx_bytes: u64,
    /// Packets the device could not send (bad descriptors or buffers).
    pub tx_dropped: u64,
    /// Descriptors read from the rings in memory (hand-over snapshots and fetches): the
    /// model's work. In one [`World::step`](super::World::step) a queue's ring is read at most
    /// twice over (a hand-over at enable, then its use), so a step's work is bounded by the
    /// rings' sizes.
    pub descriptor_reads: u64,
}

/// Who holds a buffer address (world-wide, for the double-post rules).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holder {
    /// (port, queue, slot) of the RX descriptor that holds it.
    pub(crate) rx: Option<(u16, u16, u32)>,
    /// TX descriptors (any port) that still have to read it.
    pub(crate) tx: u32,
}

/// Which descriptors hold which buffer address, over all ports: the buffer addresses posted in
/// descriptors the device owns, each with its [`Holder`].
pub(crate) type Posted = HashMap<u64, Holder, BuildHasherDefault<AddrHasher>>;

/// The hash of [`Posted`]: one multiplication folded to 64 bits. A buffer address is no secret
/// to guard against collisions chosen by an attacker (what the standard library's seeded hash
/// is for); a fixed hash is cheaper, and the model does the same work on every run.
#[derive(Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, v: u64) {
        // Folding the high half of the 128-bit product into the low half spreads every address
        // bit over the low bits too (buffer addresses are aligned: their own low bits are 0).
        let p = u128::from(self.0 ^ v) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What a device method needs from the world besides the device.
pub(crate) struct Ctx<'a> {
    pub(crate) dma: &'a Registry,
    pub(crate) posted: &'a mut Posted,
    pub(crate) pool: &'a mut FramePool,
    pub(crate) port: u16,
}

/// One simulated 82599 port: its registers, queues, receive FIFO, delayed state changes and the
/// reports of its checker.
pub(crate) struct PortModel {
    pub(crate) cfg: PortConfig,
    pub(crate) delays: Delays,
    /// The register file (`regfile.rs`).
    pub(crate) regs: Box<[u32]>,
    pub(crate) access_index: u64,
    pub(crate) reports: Reports,
    pub(crate) removed: bool,
    pub(crate) virt: u64,
    /// Delayed changes a fault holds back (`Port::never_complete`).
    pub(crate) never: HashSet<Delayed>,
    pub(crate) lan_id: u32,

    // Reset and the init order (`reset.rs`, `access.rs`).
    pub(crate) reset: Option<Delay>,
    pub(crate) rst_written: Option<Instant>,
    pub(crate) rst_pedantic_done: bool,
    pub(crate) reset_done: Option<Instant>,
    pub(crate) settle_checked: bool,
    pub(crate) ard: Option<Delay>,
    pub(crate) dmaidone: Option<Delay>,
    pub(crate) ard_seen: bool,
    pub(crate) dmaidone_seen: bool,
    pub(crate) eimc_after_reset: bool,

    // The link (`reset.rs`).
    pub(crate) link_up: bool,
    pub(crate) link: Option<Delay>,
    pub(crate) carrier: bool,

    // Queues and the receive FIFO (`queues.rs`, `rx.rs`).
    pub(crate) rxq: Vec<RxQ>,
    pub(crate) txq: Vec<TxQ>,
    /// The RX and TX queues that are not disabled (enabling or enabled): the ones a step
    /// visits. Kept by `set_rx_state` and `set_tx_state` in `queues.rs`.
    pub(crate) rx_live: QueueSet,
    pub(crate) tx_live: QueueSet,
    /// The descriptors of the packet being sent (`tx.rs`), kept so that a step does not allocate.
    pub(crate) tx_descs: Vec<TxDesc>,
    pub(crate) fifo: VecDeque<(Frame, u16)>,
    pub(crate) fifo_bytes: usize,
    /// Valid receive addresses (RAR entries with AV).
    pub(crate) rar: Vec<[u8; 6]>,
    /// GORCH-style latches: (slot of the H register, latched value).
    pub(crate) latches: Vec<(usize, u32)>,
    pub(crate) counters: ModelCounters,
    /// The rules reported once since the last reset, with their key.
    pub(crate) once: HashSet<(&'static str, u32)>,
    /// Faults for the next frames' receive write-backs, one per frame (`Port::bad_write_backs`).
    pub(crate) bad_write_backs: VecDeque<BadWriteBack>,
    /// The MSI-X vectors the host set up and their throttles (`interrupts.rs`).
    pub(crate) msix: Msix,
}

impl PortModel {
    pub(crate) fn new(cfg: PortConfig, lan_id: u32) -> Self {
        let mut d = PortModel {
            delays: Delays::of(cfg.timing),
            cfg,
            regs: regfile::blank(),
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
            rx_live: QueueSet::default(),
            tx_live: QueueSet::default(),
            tx_descs: Vec::new(),
            fifo: VecDeque::new(),
            fifo_bytes: 0,
            rar: Vec::new(),
            latches: Vec::new(),
            counters: ModelCounters::default(),
            once: HashSet::new(),
            bad_write_backs: VecDeque::new(),
            msix: Msix::default(),
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

    /// Reports what a check found ([`Finding`]: its rule, with the register, value and ring it
    /// was found on), at the current access, with `detail` saying what happened.
    pub(crate) fn report(&mut self, finding: impl Into<Finding>, detail: impl Into<String>) {
        let f = finding.into();
        self.reports.push(Report {
            severity: f.severity(),
            rule: f.rule.name,
            register: f.register,
            value: f.value,
            section: f.cited(),
            access_index: self.access_index,
            ring: f.ring,
            detail: detail.into(),
        });
    }

    /// True the first time `(rule, key)` is seen since the last reset.
    pub(crate) fn once(&mut self, rule: Rule, key: u32) -> bool {
        self.once.insert((rule.name, key))
    }
}
