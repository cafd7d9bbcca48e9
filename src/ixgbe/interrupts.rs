//! Interrupts (datasheet 7.3): each receive queue gets an MSI-X vector of its own, and a queue
//! can wait for packets instead of spinning.
//!
//! Set-up ([`Ixgbe::init_interrupts`], part of the initialisation of 4.6.3): MSI-X mode with
//! auto-masking and the pending bit array (GPIE), receive queue `n` mapped to vector `n`
//! (IVAR), each vector's cause cleared automatically when its message goes (EIAC) and masked
//! automatically with it (EIAM), and each vector throttled by EITR. Every vector stays masked
//! (EIMS) until its queue waits: polling is the fast path and costs no interrupt.
//!
//! Waiting ([`RxRing::wait`]): clear the queue's cause, unmask its vector, look at the ring
//! once more (a frame written back before the unmask raised its cause while masked, and the
//! clear dropped it: this look finds the frame instead), then sleep on the vector's eventfd.
//! The message masks the vector again by itself (EIAM); a wait that ends without one masks it
//! (EIMC). The application then polls until the ring is empty, and waits again: it polls
//! while busy and sleeps when idle, as ixy does.
//!
//! The eventfds come from an [`InterruptSource`]: the simulated port, or VFIO on real hardware.
//! A device mapped through sysfs has none, and asking it for interrupts is
//! [`Error::InterruptsNeedVfio`].

use std::time::{Duration, Instant};

use tock_registers::fields::FieldValue;
use tock_registers::interfaces::{ReadWriteable, Writeable};

use super::Ixgbe;
use super::queue::Shared;
use super::rx::RxRing;
use crate::config::Config;
use crate::interrupt::{Interrupt, InterruptSource};
use crate::regs::Bus;
use crate::regs::ixgbe::{
    EIAC, EIAM, EICR, EIMC, EIMS, EITR, GPIE, IVAR, InterruptVector, IvarEntry, Registers,
};
use crate::{Error, Result};

/// The longest throttle interval EITR holds, in µs: its 9-bit field counts 2 µs units
/// (8.2.3.5.12).
pub const MAX_ITR_US: u32 = 1022;

/// The EITR interval field for `itr_us` microseconds: 0 (no throttling) or an even number up
/// to [`MAX_ITR_US`]; anything else is refused.
pub(super) fn itr_interval(name: &str, itr_us: u32) -> Result<u32> {
    if !itr_us.is_multiple_of(2) || itr_us > MAX_ITR_US {
        return Err(Error::InvalidConfig {
            problem: format!(
                "{name}: an interrupt throttle of {itr_us} µs: the 82599 throttles in steps of 2 µs from 0 (no throttling) to {MAX_ITR_US} µs (EITR, datasheet 8.2.3.5.12); use {}",
                (itr_us / 2 * 2).min(MAX_ITR_US)
            ),
        });
    }
    Ok(itr_us / 2)
}

// The longest interval fills EITR's interval field exactly.
const _: () = assert!(MAX_ITR_US / 2 == EITR::ITR_INTERVAL.mask);

/// What a receive queue waits on: its MSI-X vector (the EICR, EIMS and EIMC bit) and the
/// eventfd the vector's messages signal.
pub(super) struct RxInterrupt {
    irq: Interrupt,
    /// The vector's bit in EICR, EIMS and EIMC.
    cause: FieldValue<u32, EICR::Register>,
    enable: FieldValue<u32, EIMS::Register>,
    mask: FieldValue<u32, EIMC::Register>,
}

impl<B: Bus> Ixgbe<B> {
    /// Checks what interrupts need before anything touches the device, and sets up one MSI-X
    /// vector per receive queue at `source`: the eventfds, by queue. None without
    /// [`Config::interrupts`].
    pub(super) fn interrupt_vectors(
        name: &str,
        config: &Config,
        source: Option<&dyn InterruptSource>,
    ) -> Result<Option<Vec<Interrupt>>> {
        if !config.interrupts {
            return Ok(None);
        }
        let Some(source) = source else {
            return Err(Error::InterruptsNeedVfio {
                device: name.to_string(),
            });
        };
        itr_interval(name, config.itr_us.unwrap_or(crate::config::DEFAULT_ITR_US))?;
        let available = source.msix_vectors();
        if config.rx_queues > available {
            return Err(Error::TooFewVectors {
                device: name.to_string(),
                needed: u32::from(config.rx_queues),
                available: u32::from(available),
            });
        }
        source.enable_msix(config.rx_queues).map(Some)
    }

    /// 7.3, 8.2.3.5: MSI-X mode, and receive queue `n` on vector `n` with the throttle of
    /// `config`; `vectors` are the queues' eventfds. Every vector stays masked.
    pub(super) fn init_interrupts(
        &mut self,
        config: &Config,
        vectors: Vec<Interrupt>,
    ) -> Result<()> {
        let interval = itr_interval(
            &self.name,
            config.itr_us.unwrap_or(crate::config::DEFAULT_ITR_US),
        )?;
        // 8.2.3.5.18: several MSI-X vectors (MSIX_MODE), the auto-mask of EIAM applied when a
        // message is sent (EIAME), and the MSI-X pending bit array (PBA_SUPPORT), which MSI-X
        // mode uses.
        self.regs
            .gpie()
            .modify(GPIE::MSIX_MODE::SET + GPIE::EIAME::SET + GPIE::PBA_SUPPORT::SET);
        let mut mask = 0u32;
        for (n, irq) in vectors.into_iter().enumerate() {
            let vector = n as u32;
            // 8.2.3.5.16: IVAR entry n/2 holds the receive queues 2k (bits 7:0) and 2k+1
            // (bits 23:16): the vector and a valid bit.
            let entry = self.regs.ivar(IvarEntry::try_from(n / 2)?);
            if n % 2 == 0 {
                entry.modify(IVAR::RX0_VECTOR::val_checked(vector)? + IVAR::RX0_VALID::SET);
            } else {
                entry.modify(IVAR::RX1_VECTOR::val_checked(vector)? + IVAR::RX1_VALID::SET);
            }
            // 8.2.3.5.12: the minimum interval between two messages of the vector; written
            // without CNT_WDIS, so the countdown starts over.
            self.regs
                .eitr(InterruptVector::try_from(n)?)
                .write(EITR::ITR_INTERVAL::val_checked(interval)?);
            mask |= 1 << vector;
            if let Some(Some(ring)) = self.rx.get_mut(n) {
                let bit = 1 << vector;
                ring.irq = Some(RxInterrupt {
                    irq,
                    cause: EICR::RTXQ::val_checked(bit)?,
                    enable: EIMS::RTXQ::val_checked(bit)?,
                    mask: EIMC::CAUSES::val_checked(bit)?,
                });
            }
        }
        // 8.2.3.5.5, 8.2.3.5.6: a message clears its vector's cause (EIAC) and masks it (EIAM,
        // with GPIE.EIAME), so a vector sends one message per wait.
        self.regs.eiac().write(EIAC::RTXQ::val_checked(mask)?);
        self.regs.eiam().write(EIAM::RTXQ::val_checked(mask)?);
        // DEPARTS 4.6.3.1: the flow ends by enabling the interrupts in EIMS. rixy enables a
        // queue's vector only while the queue waits (`RxRing::wait`); polling needs none.
        Ok(())
    }

    /// Waits up to `timeout` for packets on receive queue `queue`: `true` when the next
    /// [`Ixgbe::rx_batch`] takes something, `false` when the timeout passed first. Returns at
    /// once when packets are waiting; otherwise unmasks the queue's vector and sleeps on its
    /// eventfd (`poll(2)`). A port opened without [`Config::interrupts`] is
    /// [`Error::InterruptsOff`]; a queue whose handle is out, [`Error::QueueTaken`].
    pub fn rx_wait(&mut self, queue: u16, timeout: Duration) -> Result<bool> {
        let q = usize::from(queue);
        if !matches!(self.rx.get(q), Some(Some(_))) {
            self.reclaim_rx(queue)?;
        }
        match self.rx.get_mut(q) {
            Some(Some(ring)) => ring.wait(&mut self.regs, &self.shared, timeout),
            _ => Err(self.queue_taken("receive", queue)),
        }
    }
}

impl<B: Bus> Ixgbe<B> {
    /// The first half of a wait on several queues at once ([`crate::wait_any`]): `None` when
    /// receive queue `queue` has packets already (nothing is armed), else the eventfd that its
    /// next interrupt signals, with the vector unmasked. Every arm is followed by
    /// [`Ixgbe::rx_disarm`].
    pub fn rx_arm(&mut self, queue: u16) -> Result<Option<std::os::fd::RawFd>> {
        let q = usize::from(queue);
        if !matches!(self.rx.get(q), Some(Some(_))) {
            self.reclaim_rx(queue)?;
        }
        match self.rx.get_mut(q) {
            Some(Some(ring)) => ring.arm(&mut self.regs, &self.shared),
            _ => Err(self.queue_taken("receive", queue)),
        }
    }

    /// The second half: masks the queue's vector again (if its message did not), consumes what
    /// its eventfd counted, and says whether the queue has packets.
    pub fn rx_disarm(&mut self, queue: u16) -> Result<bool> {
        match self.rx.get_mut(usize::from(queue)) {
            Some(Some(ring)) => Ok(ring.disarm(&mut self.regs)),
            _ => Err(self.queue_taken("receive", queue)),
        }
    }
}

impl RxRing {
    /// See [`Ixgbe::rx_arm`]: the same steps as the start of [`RxRing::wait`].
    pub(super) fn arm<B: Bus>(
        &mut self,
        regs: &mut Registers<B>,
        shared: &Shared,
    ) -> Result<Option<std::os::fd::RawFd>> {
        use std::os::fd::AsRawFd;
        shared.check_running()?;
        if self.ready() {
            return Ok(None);
        }
        let Some(irq) = &self.irq else {
            return Err(Error::InterruptsOff {
                device: shared.name.clone(),
                queue: self.queue.get() as u16,
            });
        };
        irq.irq.clear();
        // As in `wait`: the cause cleared (8.2.3.5.1), the vector unmasked (8.2.3.5.3), and the
        // ring looked at again for a frame written back before the unmask.
        regs.eicr().write(irq.cause);
        regs.eims().write(irq.enable);
        if self.ready() {
            regs.eimc().write(irq.mask);
            return Ok(None);
        }
        Ok(Some(irq.irq.as_raw_fd()))
    }

    /// See [`Ixgbe::rx_disarm`].
    pub(super) fn disarm<B: Bus>(&mut self, regs: &mut Registers<B>) -> bool {
        if let Some(irq) = &self.irq {
            regs.eimc().write(irq.mask);
            irq.irq.clear();
        }
        self.ready()
    }

    /// Waits until the queue has packets or `timeout` passes: `true` if the next batch takes
    /// something, `false` on the timeout. Returns at once when packets are waiting. A queue
    /// without an interrupt vector is [`Error::InterruptsOff`].
    pub(super) fn wait<B: Bus>(
        &mut self,
        regs: &mut Registers<B>,
        shared: &Shared,
        timeout: Duration,
    ) -> Result<bool> {
        shared.check_running()?;
        if self.ready() {
            return Ok(true);
        }
        let Some(irq) = &self.irq else {
            return Err(Error::InterruptsOff {
                device: shared.name.clone(),
                queue: self.queue.get() as u16,
            });
        };
        let deadline = Instant::now() + timeout;
        loop {
            // Messages of earlier waits that nobody consumed.
            irq.irq.clear();
            // 8.2.3.5.1: the cause, pending from frames received while the vector was masked,
            // is cleared (a written 1 clears it); 8.2.3.5.3: then the vector is unmasked, so a
            // frame written back from now on sends a message.
            regs.eicr().write(irq.cause);
            regs.eims().write(irq.enable);
            // A frame written back before the unmask sent nothing: look again.
            if self.ready() {
                regs.eimc().write(irq.mask);
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            // The message masked the vector itself (EIAM); without one it is masked here.
            let woken = !left.is_zero() && irq.irq.wait(left)?;
            if !woken {
                regs.eimc().write(irq.mask);
                return Ok(self.ready());
            }
            shared.check_running()?;
            if self.ready() {
                return Ok(true);
            }
            // A message with no frame behind it (a write-back the previous wait's message
            // announced, taken by a batch since): wait for the rest of the time.
        }
    }
}
