//! Delayed state changes (DS 4.6.3: bits the driver polls): a reset completing, EEC.ARD and
//! RDRXCTL.DMAIDONE rising, a queue's ENABLE latching, the link coming up. Each fires after a
//! minimum time and a minimum number of reads of its register, whichever comes later; a step of
//! the world fires those whose virtual time has come.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::model::{Ctx, PortModel};
use super::{Delayed, Timing};

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
    /// The delays of timing mode `t`.
    pub(crate) fn of(t: Timing) -> Self {
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

    /// The minimum time delayed change `d` takes.
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
/// virtual time on steps) and a minimum number of reads of its register.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delay {
    kind: Delayed,
    wall: Instant,
    virt: u64,
    reads: u32,
}

impl Delay {
    /// Delayed change `kind`, starting now (wall time) and at `virt` (virtual time).
    pub(crate) fn new(kind: Delayed, virt: u64) -> Self {
        Delay {
            kind,
            wall: Instant::now(),
            virt,
            reads: 0,
        }
    }
}

impl PortModel {
    /// Holds delayed change `d` back for good (a fault), or lets it complete again.
    pub(crate) fn set_never(&mut self, d: Delayed, never: bool) {
        if never {
            self.never.insert(d);
        } else {
            self.never.remove(&d);
        }
    }

    /// Counts one read of a delayed bit's register: true when the delay pending in `pending`
    /// is due now (the caller then finishes it); otherwise it stays pending, one read older.
    /// (A function of the fields it needs, so callers can pass one of `self`'s own fields.)
    pub(crate) fn fires_on_read(
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

    /// Whether `delay` is due at the current virtual time.
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
        self.send_held_msix();
        // Only a queue being enabled has a delay pending.
        for q in self.rx_live.union(self.tx_live).iter() {
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
}
