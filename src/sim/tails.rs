//! Tails (DS 7.1.9, 7.2.3): a tail write hands descriptors to the device, after the checks of
//! the tail protocol; and which descriptors hold which buffer, world-wide, so that a buffer
//! posted twice is caught.

use super::model::{Ctx, PortModel, Posted};
use super::queues::QState;
use super::report::Direction;
use super::rules;
use crate::regs::ixgbe::RegisterId;

impl PortModel {
    /// The common tail checks; returns the accepted new tail and whether the ownership must be
    /// rebuilt from the head (overrun), or None when the write is dropped.
    fn tail_checks(&mut self, dir: Direction, q: usize, v: u32) -> Option<(u32, bool)> {
        let (tid, hid, state, seen, n) = match dir {
            Direction::Rx => {
                let r = &self.rxq[q];
                (
                    RegisterId::RDT,
                    RegisterId::RDH,
                    r.state,
                    r.enable_seen,
                    r.n,
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
                rules::TAIL_BEFORE_ENABLE.on(name).value(u64::from(v)).ring(ring),
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
                rules::TAIL_OUT_OF_RANGE
                    .on(name)
                    .value(u64::from(v))
                    .ring(ring),
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
                rules::TAIL_OVERRUN.on(name).value(u64::from(v)).ring(ring),
                format!(
                    "tail moved from {t_old} to {v16} with head at {h}: the device owned {own} descriptors and would get {adv} more, beyond the {} a ring of {n} can hold (tail moved backwards or past the head)",
                    n - 1
                ),
            );
            return Some((v16, true));
        }
        Some((v16, false))
    }

    /// A write to RDT: the descriptors from the old tail to the new one go to the device (all
    /// from the head, after an overrun).
    pub(crate) fn write_rdt(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
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

    /// A write to TDT, as [`PortModel::write_rdt`].
    pub(crate) fn write_tdt(&mut self, q: usize, v: u32, ctx: &mut Ctx<'_>) {
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
}

/// Forgets that an RX descriptor holds `addr`.
pub(crate) fn release_rx(posted: &mut Posted, addr: u64) {
    if let Some(h) = posted.get_mut(&addr) {
        h.rx = None;
        if h.tx == 0 {
            posted.remove(&addr);
        }
    }
}

/// Forgets one TX descriptor pointing at `addr`.
pub(crate) fn release_tx(posted: &mut Posted, addr: u64) {
    if let Some(h) = posted.get_mut(&addr) {
        h.tx = h.tx.saturating_sub(1);
        if h.tx == 0 && h.rx.is_none() {
            posted.remove(&addr);
        }
    }
}
