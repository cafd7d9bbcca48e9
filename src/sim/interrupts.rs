//! Interrupts (DS 7.3, 8.2.3.5): the causes in EICR and how they become MSI-X messages.
//!
//! A cause is set in EICR by a queue's write-back (through its IVAR entry), by the link (LSC),
//! by a FIFO overrun (RX_MISS) or by software (EICS). In MSI-X mode (GPIE.MSIX_MODE) queue cause
//! bit `n` is vector `n`, and the other causes go to the vector IVAR_MISC names; without it every
//! cause goes to vector 0. A vector sends a message when one of its causes becomes pending while
//! enabled in EIMS, or becomes enabled while pending, unless its throttle (EITR, 2 µs units of
//! virtual time since its last message) holds the message back: then it goes when the interval
//! is over, if a cause is still pending and enabled. A message signals the eventfd the host set up
//! for the vector ([`crate::InterruptSource`] on [`super::Port`]); then, in MSI-X mode, the
//! queue causes of the vector clear themselves where EIAC says (auto-clear) and are masked where
//! EIAM says, with GPIE.EIAME (auto-mask).
//!
//! Cost: a write-back sets its cause bit; only a cause that was not pending already and is
//! enabled goes further, and only a message that is really sent makes a system call. Queue
//! causes of vectors 16 to 63 (EICS_EX, EIMS_EX and friends) are not modelled: a queue mapped
//! there raises nothing, which a report says.

use super::model::PortModel;
use super::regfile::{fmask, slot};
use super::report::Direction;
use super::rules;
use crate::interrupt::Interrupt;
use crate::regs::ixgbe::{EICR, EITR, GPIE, IVAR, IVAR_MISC, RegisterId};

/// The MSI-X vectors the model can address (IVAR's vector fields are six bits).
const VECTORS: usize = 64;
/// The queue causes: EICR bits 15:0.
const QUEUE_CAUSES: u32 = 0xFFFF;
/// The EITR interval's unit, in ns (8.2.3.5.12: 2 µs).
const ITR_UNIT_NS: u64 = 2_000;

/// The host's side of a port's MSI-X vectors and the model's state for each.
pub(crate) struct Msix {
    /// The eventfd the host set up for each vector, by vector (`Port::enable_msix`).
    pub(crate) fds: Vec<Interrupt>,
    /// Per vector: the virtual time (ns) before which EITR holds its next message back.
    hold_until: [u64; VECTORS],
    /// Vectors whose message EITR held back: sent when the interval is over.
    held: u64,
    /// Messages sent per vector (for tests, counted apart from the eventfds).
    pub(crate) sent: [u64; VECTORS],
}

impl Default for Msix {
    fn default() -> Self {
        Msix {
            fds: Vec::new(),
            hold_until: [0; VECTORS],
            held: 0,
            sent: [0; VECTORS],
        }
    }
}

impl Msix {
    /// A device reset: the throttles start over; the host's vectors stay set up (they live in
    /// the PCI function's MSI-X table, which CTRL.RST does not touch).
    pub(crate) fn reset(&mut self) {
        self.hold_until = [0; VECTORS];
        self.held = 0;
    }
}

/// The causes other than the queues and the TCP timer, which IVAR_MISC's OTHER entry maps.
fn other_causes() -> u32 {
    (EICR::FLOW_DIR::SET
        + EICR::RX_MISS::SET
        + EICR::PCI_EXCEPTION::SET
        + EICR::MAILBOX::SET
        + EICR::LSC::SET
        + EICR::LINKSEC::SET
        + EICR::MNG::SET
        + EICR::GPI_SDP0::SET
        + EICR::GPI_SDP1::SET
        + EICR::GPI_SDP2::SET
        + EICR::ECC::SET)
        .value
}

impl PortModel {
    /// Sets interrupt causes in EICR; a cause that was not pending and is enabled sends its
    /// vector's message.
    #[inline]
    pub(crate) fn raise(&mut self, causes: u32) {
        let s = slot(RegisterId::EICR, 0);
        let new = causes & !self.regs[s];
        self.regs[s] |= causes;
        let fire = new & self.regs[slot(RegisterId::EIMS, 0)];
        if fire != 0 {
            self.signal_causes(fire);
        }
    }

    /// A write to EICS: sets the causes written, and every one of them that is enabled sends
    /// its vector's message, pending before or not (software asks for the interrupt).
    pub(crate) fn write_eics(&mut self, v: u32) {
        let s = slot(RegisterId::EICR, 0);
        self.regs[s] |= v;
        let fire = v & self.regs[slot(RegisterId::EIMS, 0)];
        if fire != 0 {
            self.signal_causes(fire);
        }
    }

    /// Raises the EICR cause IVAR maps queue `q` of direction `dir` to, if any.
    #[inline]
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

    /// The vector cause bit `cause` goes to, if any (7.3.4): in MSI-X mode queue cause `n` is
    /// vector `n` and the others go where IVAR_MISC says; without MSI-X mode, vector 0.
    fn vector_of(&self, cause: u32) -> Option<usize> {
        if !GPIE::MSIX_MODE.is_set(self.get(RegisterId::GPIE, 0)) {
            return Some(0);
        }
        if cause < 16 {
            return Some(cause as usize);
        }
        let misc = self.get(RegisterId::IVAR_MISC, 0);
        if 1 << cause == fmask(EICR::TCP_TIMER) {
            IVAR_MISC::TCP_TIMER_VALID
                .is_set(misc)
                .then(|| IVAR_MISC::TCP_TIMER_VECTOR.read(misc) as usize)
        } else {
            IVAR_MISC::OTHER_VALID
                .is_set(misc)
                .then(|| IVAR_MISC::OTHER_VECTOR.read(misc) as usize)
        }
    }

    /// The causes that go to vector `v`.
    fn causes_of(&self, v: usize) -> u32 {
        (0..31)
            .filter(|&c| self.vector_of(c) == Some(v))
            .fold(0, |m, c| m | 1 << c)
    }

    /// Causes that just became pending and enabled: each one's vector sends a message, or EITR
    /// holds it back.
    fn signal_causes(&mut self, causes: u32) {
        let mut rest = causes;
        let mut done = 0u64;
        while rest != 0 {
            let c = rest.trailing_zeros();
            rest &= rest - 1;
            let Some(v) = self.vector_of(c) else {
                continue;
            };
            if v >= VECTORS || done & (1 << v) != 0 {
                continue;
            }
            done |= 1 << v;
            if self.virt < self.msix.hold_until[v] {
                self.msix.held |= 1 << v;
            } else {
                self.send_msix(v);
            }
        }
    }

    /// Sends the messages EITR held back whose interval is over, if their causes are still
    /// pending and enabled. Called on every step.
    #[inline]
    pub(crate) fn send_held_msix(&mut self) {
        if self.msix.held == 0 {
            return;
        }
        let mut rest = self.msix.held;
        while rest != 0 {
            let v = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            if self.virt < self.msix.hold_until[v] {
                continue;
            }
            self.msix.held &= !(1 << v);
            let live = self.get(RegisterId::EICR, 0) & self.get(RegisterId::EIMS, 0);
            if live & self.causes_of(v) != 0 {
                self.send_msix(v);
            }
        }
    }

    /// Vector `v` sends its message: the host's eventfd is signalled, the throttle starts, and
    /// in MSI-X mode auto-clear and auto-mask apply to the vector's queue causes.
    fn send_msix(&mut self, v: usize) {
        let Some(fd) = self.msix.fds.get(v) else {
            if self.once(rules::MSIX_VECTOR_NOT_ENABLED, v as u32) {
                self.report(
                    rules::MSIX_VECTOR_NOT_ENABLED.on("EIMS").value(v as u64),
                    format!(
                        "an interrupt for MSI-X vector {v}, which the host has not set up ({} set up); the message is not delivered",
                        self.msix.fds.len()
                    ),
                );
            }
            return;
        };
        fd.signal();
        self.msix.sent[v] += 1;
        let itr = EITR::ITR_INTERVAL.read(self.get(RegisterId::EITR, v.min(127)));
        self.msix.hold_until[v] = self.virt + u64::from(itr) * ITR_UNIT_NS;
        let gpie = self.get(RegisterId::GPIE, 0);
        if !GPIE::MSIX_MODE.is_set(gpie) {
            if self.msix.fds.len() > 1 && self.once(rules::MSIX_MODE_OFF, 0) {
                self.report(
                    rules::MSIX_MODE_OFF.on("GPIE").value(u64::from(gpie)),
                    format!(
                        "an interrupt while GPIE.MSIX_MODE = 0 and the host set up {} MSI-X vectors: every cause goes to vector 0",
                        self.msix.fds.len()
                    ),
                );
            }
            return;
        }
        // 8.2.3.5.5, 8.2.3.5.6: auto-clear and auto-mask on the message, for the queue causes.
        let mine = if v < 16 { 1u32 << v } else { 0 } & QUEUE_CAUSES;
        let clear = mine & self.get(RegisterId::EIAC, 0);
        self.regs[slot(RegisterId::EICR, 0)] &= !clear;
        if GPIE::EIAME.is_set(gpie) {
            let mask = mine & self.get(RegisterId::EIAM, 0);
            self.regs[slot(RegisterId::EIMS, 0)] &= !mask;
        }
    }

    /// A read of EICR: the causes, which the read clears (DS 8.2.3.5.1); with GPIE.OCD ("other
    /// clear disable") only the queue causes clear, the other causes (bits 29:16) stay.
    pub(crate) fn read_eicr(&mut self, s: usize, v: u32) -> u32 {
        let keep = if GPIE::OCD.is_set(self.get(RegisterId::GPIE, 0)) {
            other_causes()
        } else {
            0
        };
        self.regs[s] = v & keep;
        v
    }

    /// A write to EIMS: its 1s enable causes (writing 0 changes nothing). A cause enabled while
    /// pending sends its vector's message.
    pub(crate) fn write_eims(&mut self, s: usize, v: u32) {
        if v == 0 {
            self.report(
                rules::EIMS_ZERO.on("EIMS").value(0),
                "EIMS written with 0: writing 0 to EIMS changes nothing (it is write-1-to-set); masking goes through EIMC",
            );
        }
        for b in 0..16 {
            if v & (1 << b) != 0
                && !self.ivar_maps_to(b)
                && self.once(rules::INTERRUPT_WITHOUT_IVAR, b)
            {
                self.report(
                    rules::INTERRUPT_WITHOUT_IVAR.on("EIMS").value(u64::from(v)),
                    format!("queue interrupt cause {b} enabled, but no valid IVAR entry maps a queue to it"),
                );
            }
        }
        let others = v & !QUEUE_CAUSES;
        if others != 0 && GPIE::MSIX_MODE.is_set(self.get(RegisterId::GPIE, 0)) {
            let unmapped = (16..31)
                .filter(|&c| others & (1 << c) != 0 && self.vector_of(c).is_none())
                .fold(0u32, |m, c| m | 1 << c);
            if unmapped != 0 && self.once(rules::INTERRUPT_WITHOUT_IVAR, 16) {
                self.report(
                    rules::INTERRUPT_WITHOUT_IVAR.on("EIMS").value(u64::from(v)),
                    format!("causes {unmapped:#x} enabled in MSI-X mode, but IVAR_MISC maps them to no vector"),
                );
            }
        }
        let old = self.regs[s];
        self.regs[s] |= v;
        let fire = v & !old & self.get(RegisterId::EICR, 0);
        if fire != 0 {
            self.signal_causes(fire);
        }
    }

    /// A write to EIMC: its 1s mask causes.
    pub(crate) fn write_eimc(&mut self, v: u32) {
        self.eimc_after_reset = true;
        let s = slot(RegisterId::EIMS, 0);
        self.regs[s] &= !v;
    }

    /// A write to EITR of vector `v` (8.2.3.5.12): the interval, checked; without CNT_WDIS the
    /// write also restarts the vector's countdown, so its next message is not held back.
    pub(crate) fn write_eitr(&mut self, s: usize, v: usize, value: u32) {
        let known = fmask(EITR::ITR_INTERVAL) | fmask(EITR::LLI_MODERATION) | fmask(EITR::CNT_WDIS);
        if value & !known != 0 {
            self.report(
                rules::EITR_OUT_OF_RANGE.on("EITR").value(u64::from(value)),
                format!(
                    "EITR[{v}] written with {value:#x}: bits {:#x} are outside the interval (bits 11:3, 2 µs units up to 1022 µs) and its control bits; the interval reads {} µs",
                    value & !known,
                    EITR::ITR_INTERVAL.read(value) * 2
                ),
            );
        }
        self.regs[s] = value;
        if !EITR::CNT_WDIS.is_set(value) && v < VECTORS {
            self.msix.hold_until[v] = 0;
        }
    }

    /// A write to IVAR entry `idx` (8.2.3.5.16): each valid entry must name a vector the port's
    /// MSI-X table has.
    pub(crate) fn write_ivar(&mut self, s: usize, idx: usize, value: u32) {
        self.regs[s] = value;
        let entries = [
            (
                "RX",
                2 * idx,
                IVAR::RX0_VALID.is_set(value),
                IVAR::RX0_VECTOR.read(value),
            ),
            (
                "TX",
                2 * idx,
                IVAR::TX0_VALID.is_set(value),
                IVAR::TX0_VECTOR.read(value),
            ),
            (
                "RX",
                2 * idx + 1,
                IVAR::RX1_VALID.is_set(value),
                IVAR::RX1_VECTOR.read(value),
            ),
            (
                "TX",
                2 * idx + 1,
                IVAR::TX1_VALID.is_set(value),
                IVAR::TX1_VECTOR.read(value),
            ),
        ];
        for (dir, q, valid, vector) in entries {
            if !valid {
                continue;
            }
            if vector >= u32::from(self.cfg.msix_vectors) {
                self.report(
                    rules::IVAR_VECTOR_OUT_OF_RANGE
                        .on("IVAR")
                        .value(u64::from(value)),
                    format!(
                        "{dir} queue {q} mapped to vector {vector}; the port has {} MSI-X vectors",
                        self.cfg.msix_vectors
                    ),
                );
            } else if vector >= 16 && self.once(rules::IVAR_VECTOR_NOT_MODELLED, vector) {
                self.report(
                    rules::IVAR_VECTOR_NOT_MODELLED.on("IVAR").value(u64::from(value)),
                    format!(
                        "{dir} queue {q} mapped to vector {vector}: the model has no EICS_EX/EIMS_EX, so it raises nothing"
                    ),
                );
            }
        }
    }

    /// Whether a valid IVAR entry maps some queue to cause `vector`.
    fn ivar_maps_to(&self, vector: u32) -> bool {
        (0..RegisterId::IVAR.info().count).any(|i| {
            let v = self.get(RegisterId::IVAR, i);
            (IVAR::RX0_VALID.is_set(v) && IVAR::RX0_VECTOR.read(v) == vector)
                || (IVAR::TX0_VALID.is_set(v) && IVAR::TX0_VECTOR.read(v) == vector)
                || (IVAR::RX1_VALID.is_set(v) && IVAR::RX1_VECTOR.read(v) == vector)
                || (IVAR::TX1_VALID.is_set(v) && IVAR::TX1_VECTOR.read(v) == vector)
        })
    }
}
