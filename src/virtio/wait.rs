//! Waiting for packets instead of spinning (issue 14): the receive queue's used buffer
//! notifications stay suppressed while the driver polls, and are enabled only while the queue
//! waits (VirtIO 1.0 2.4.7 split, 1.1 2.7.10 packed). The device then sends the queue's MSI-X
//! message (4.1.4.3, legacy 4.1.4.8), which VFIO turns into a signal on the queue's eventfd.
//!
//! The order closes the race 3.2.2 and 2.4.7.2 warn of: clear the eventfd, enable notifications,
//! a full barrier, look at the used ring again (a buffer used before the enable sent nothing),
//! and only then sleep on the eventfd. Afterwards notifications are suppressed again and the
//! eventfd cleared, so a poll that comes back finds no message of an old wait.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{Ordering, fence};

use super::*;

impl<T: Transport> Virtio<T> {
    /// Waits up to `timeout` for packets on receive queue `queue` (there is one, 0): `true` when
    /// the device has used a receive buffer the next [`Virtio::rx_batch`] takes, `false` when the
    /// timeout passed first. Returns at once when one is waiting. Needs a device opened with
    /// [`Config::interrupts`] ([`Error::InterruptsOff`] otherwise).
    pub fn rx_wait(&mut self, queue: u16, timeout: Duration) -> Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.rx_arm(queue)?.is_none() {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let woken = match &self.rx_irq {
                Some(irq) if !left.is_zero() => irq.wait(left)?,
                _ => false,
            };
            if self.rx_disarm(queue)? {
                return Ok(true);
            }
            if !woken {
                return Ok(false);
            }
            // A message with nothing behind it (a buffer it announced was taken since): wait
            // for the rest of the time.
        }
    }

    /// The first half of a wait that a caller runs itself (to `poll(2)` several devices at
    /// once): `None` when packets are waiting (nothing armed), or the eventfd to poll for
    /// readability, with the queue's used buffer notifications enabled. Follow it with
    /// [`Virtio::rx_disarm`] whatever the poll says. Needs [`Config::interrupts`].
    pub fn rx_arm(&mut self, queue: u16) -> Result<Option<RawFd>> {
        let fd = self.rx_irq_fd(queue)?;
        if self.rx.vq.has_used() {
            return Ok(None);
        }
        // Messages of earlier waits that nobody consumed.
        if let Some(irq) = &self.rx_irq {
            irq.clear();
        }
        self.rx.vq.set_used_notifications(true)?;
        // The enable must be visible to the device before the driver looks at the used ring
        // again (a store then a load: only a full barrier orders them).
        fence(Ordering::SeqCst);
        if self.rx.vq.has_used() {
            // Used before the enable was seen: the device may have sent nothing for it.
            self.rx.vq.set_used_notifications(false)?;
            return Ok(None);
        }
        Ok(Some(fd))
    }

    /// The second half: suppresses the queue's used buffer notifications again, clears the
    /// eventfd and says whether packets are waiting (the next [`Virtio::rx_batch`] takes
    /// something).
    pub fn rx_disarm(&mut self, queue: u16) -> Result<bool> {
        self.rx_irq_fd(queue)?;
        self.rx.vq.set_used_notifications(false)?;
        if let Some(irq) = &self.rx_irq {
            irq.clear();
        }
        fence(Ordering::Acquire);
        Ok(self.rx.vq.has_used())
    }

    /// Whether the device was opened with interrupts; the eventfd of receive queue `queue`.
    fn rx_irq_fd(&self, queue: u16) -> Result<RawFd> {
        if queue != 0 {
            return Err(self.no_queue("receive", queue));
        }
        self.failed()?;
        match &self.rx_irq {
            Some(irq) => Ok(irq.as_raw_fd()),
            None => Err(Error::InterruptsOff {
                device: self.name.clone(),
                queue,
            }),
        }
    }
}
