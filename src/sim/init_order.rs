//! The init-order rules: what DS 4.6.7 wants set when receive is enabled (RXCTRL.RXEN), and
//! the TX arbiter DS 4.6.8 disables around the transmit buffer setup.

use super::model::PortModel;
use super::queues::{QState, QUEUES};
use super::rules;
use crate::regs::ixgbe::{CTRL_EXT, DCA_RXCTRL, HLREG0, RDRXCTL, RTTDCS, RegisterId, SECRXCTRL};

impl PortModel {
    /// TXPBSIZE or DTXMXSZRQ (`name`) written with `v`: DS 4.6.8 wants the arbiter disabled.
    pub(crate) fn arbiter_check(&mut self, name: &'static str, v: u32) {
        if !RTTDCS::ARBDIS.is_set(self.get(RegisterId::RTTDCS, 0))
            && self.once(rules::TX_ARBITER_ENABLED, 0)
        {
            self.report(
                rules::TX_ARBITER_ENABLED.on(name).value(u64::from(v)),
                "TX packet buffer / request size programmed while RTTDCS.ARBDIS = 0; DS 4.6.8 disables the arbiter around it",
            );
        }
    }

    /// Checks when RXCTRL.RXEN goes from 0 to 1 (DS 4.6.7).
    pub(crate) fn rxen_rising(&mut self, v: u32) {
        use RegisterId as R;
        let hl = self.get(R::HLREG0, 0);
        let rd = self.get(R::RDRXCTL, 0);
        if HLREG0::RXCRCSTRP.is_set(hl) != RDRXCTL::CRCSTRIP.is_set(rd) {
            self.report(
                rules::CRC_STRIP_MISMATCH.on("RXCTRL").value(u64::from(v)),
                format!(
                    "RXEN set while HLREG0.RXCRCSTRP = {} but RDRXCTL.CRCSTRIP = {}; they must be equal",
                    HLREG0::RXCRCSTRP.read(hl),
                    RDRXCTL::CRCSTRIP.read(rd)
                ),
            );
        }
        if !CTRL_EXT::NS_DIS.is_set(self.get(R::CTRL_EXT, 0)) {
            self.report(
                rules::NS_DIS_NOT_SET
                    .on("CTRL_EXT")
                    .value(u64::from(self.get(R::CTRL_EXT, 0))),
                "RXEN set while CTRL_EXT.NS_DIS = 0; DS 4.6.7 sets it during RX init",
            );
        }
        if RDRXCTL::RSCFRSTSIZE.read(rd) != 0
            || !RDRXCTL::RSCACKC.is_set(rd)
            || !RDRXCTL::FCOE_WRFIX.is_set(rd)
        {
            self.report(
                rules::RDRXCTL_RSC_BITS.on("RDRXCTL").value(u64::from(rd)),
                "RDRXCTL.RSCFRSTSIZE must be written 0 and RSCACKC and FCOE_WRFIX 1 (\"software should set this bit\")",
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
                rules::RXEN_BEFORE_QUEUES.on("RXCTRL").value(u64::from(v)),
                "RXEN set before any RX queue was enabled; DS 4.6.7 enables the RX path only after all other settings",
            );
        }
        if !SECRXCTRL::RX_DIS.is_set(self.get(R::SECRXCTRL, 0))
            && self.once(rules::SECRX_HANDSHAKE_SKIPPED, 0)
        {
            self.report(
                rules::SECRX_HANDSHAKE_SKIPPED
                    .on("RXCTRL")
                    .value(u64::from(v)),
                "RXEN changed without the SECRXCTRL.RX_DIS / SECRXSTAT.SECRX_RDY handshake",
            );
        }
    }

    /// RX queue `q` receives: DS 4.6.7 clears bit 12 of its DCA_RXCTRL first.
    pub(crate) fn dca_check(&mut self, q: usize) {
        if DCA_RXCTRL::RESERVED_12.is_set(self.get(RegisterId::DCA_RXCTRL, q))
            && self.once(rules::DCA_RXCTRL_BIT12, q as u32)
        {
            self.report(
                rules::DCA_RXCTRL_BIT12
                    .on("DCA_RXCTRL")
                    .value(u64::from(self.get(RegisterId::DCA_RXCTRL, q))),
                format!("DCA_RXCTRL[{q}] bit 12 is still 1 while receiving; DS 4.6.7 clears it"),
            );
        }
    }
}
