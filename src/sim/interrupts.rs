//! Interrupt causes and masks (DS 7.3, 8.2.3.5): EICR, EICS, EIMS, EIMC and the IVAR mapping
//! from queues to causes. The model only keeps the registers: it raises causes, it does not
//! deliver interrupts.

use super::model::PortModel;
use super::regfile::slot;
use super::report::Direction;
use super::rules;
use crate::regs::ixgbe::{EICR, EIMS, GPIE, IVAR, RegisterId};

impl PortModel {
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

    /// A read of EICR: the causes, which the read clears (DS 8.2.3.5.1); with GPIE.OCD ("other
    /// clear disable") only the queue causes clear, the other causes (bits 29:16) stay.
    pub(crate) fn read_eicr(&mut self, s: usize, v: u32) -> u32 {
        let keep = if GPIE::OCD.is_set(self.get(RegisterId::GPIE, 0)) {
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
        self.regs[s] = v & keep;
        v
    }

    /// A write to EIMS: its 1s enable causes (writing 0 changes nothing).
    pub(crate) fn write_eims(&mut self, s: usize, v: u32) {
        if v == 0 {
            self.report(
                rules::EIMS_ZERO.on("EIMS").value(0),
                "EIMS written with 0: writing 0 to EIMS changes nothing (it is write-1-to-set); masking goes through EIMC",
            );
        }
        let rtxq = EIMS::RTXQ.read(v);
        for b in 0..16 {
            if rtxq & (1 << b) != 0
                && !self.ivar_maps_to(b)
                && self.once(rules::INTERRUPT_WITHOUT_IVAR, b)
            {
                self.report(
                    rules::INTERRUPT_WITHOUT_IVAR.on("EIMS").value(u64::from(v)),
                    format!("queue interrupt cause {b} enabled, but no valid IVAR entry maps a queue to it"),
                );
            }
        }
        self.regs[s] |= v;
    }

    /// A write to EIMC: its 1s mask causes.
    pub(crate) fn write_eimc(&mut self, v: u32) {
        self.eimc_after_reset = true;
        let s = slot(RegisterId::EIMS, 0);
        self.regs[s] &= !v;
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
