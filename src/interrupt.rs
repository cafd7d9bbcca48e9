//! Interrupts as the host sees them: one eventfd per MSI-X vector ([`Interrupt`]), handed out
//! by whatever stands between the driver and the device's interrupt messages
//! ([`InterruptSource`]): the simulated 82599 port ([`crate::sim::Port`]) today, VFIO's
//! `VFIO_DEVICE_SET_IRQS` on real hardware. A device mapped through sysfs has no way to
//! deliver interrupts to user space, so a driver opened that way can only poll.
//!
//! The device side signals the eventfd (adds 1 to its counter) for every message; the driver
//! side [`Interrupt::wait`]s for it with `poll(2)` and a timeout, and reading the counter
//! consumes every message signalled so far.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::{Error, Result};

/// One interrupt vector: an eventfd the device's messages signal.
#[derive(Debug)]
pub struct Interrupt {
    fd: OwnedFd,
}

impl Interrupt {
    /// A new eventfd, counter 0, non-blocking and closed on exec.
    pub fn new() -> Result<Interrupt> {
        // SAFETY: eventfd takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(Error::Os {
                what: "eventfd for an interrupt vector",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` is a descriptor eventfd just opened, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Interrupt { fd })
    }

    /// An interrupt around an eventfd opened elsewhere (VFIO registers the caller's eventfds).
    /// It should be non-blocking: [`Interrupt::clear`] reads it.
    pub fn from_fd(fd: OwnedFd) -> Interrupt {
        Interrupt { fd }
    }

    /// A second handle on the same eventfd (`dup`): what one signals, the other sees.
    pub fn try_clone(&self) -> Result<Interrupt> {
        let fd = self.fd.try_clone().map_err(|source| Error::Os {
            what: "dup of an interrupt eventfd",
            source,
        })?;
        Ok(Interrupt { fd })
    }

    /// Signals the vector, as the device's message does (adds 1 to the counter).
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: the buffer is a live u64 of the 8 bytes eventfd takes. A full counter (2^64
        // - 2 signals nobody consumed) makes the write fail with EAGAIN; the vector is then
        // signalled already, so the error is ignored.
        let _ = unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                (&raw const one).cast::<libc::c_void>(),
                8,
            )
        };
    }

    /// Consumes every signal so far; returns how many there were (0 if none).
    pub fn clear(&self) -> u64 {
        let mut count: u64 = 0;
        // SAFETY: the buffer is a live u64 of the 8 bytes an eventfd read fills. The eventfd is
        // non-blocking: with the counter at 0 the read fails with EAGAIN and `count` stays 0.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&raw mut count).cast::<libc::c_void>(),
                8,
            )
        };
        if n == 8 { count } else { 0 }
    }

    /// Waits up to `timeout` for a signal and consumes it: `true` if the vector was signalled
    /// (before the call or during the wait), `false` if the timeout passed first. A signal
    /// (`EINTR`) interrupting the wait makes it wait again for the rest of the time.
    pub fn wait(&self, timeout: Duration) -> Result<bool> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            // Round up, so a wait of 0.5 ms sleeps instead of spinning.
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one live pollfd, and the count says one.
            let r = unsafe { libc::poll(&raw mut pfd, 1, ms) };
            if r < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Os {
                    what: "poll on an interrupt eventfd",
                    source: e,
                });
            }
            if r > 0 && self.clear() > 0 {
                return Ok(true);
            }
            if left.is_zero() {
                return Ok(false);
            }
        }
    }
}

impl AsFd for Interrupt {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Interrupt {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What hands a driver its device's interrupt vectors: the device's MSI-X messages, each
/// delivered to an eventfd.
pub trait InterruptSource {
    /// The MSI-X vectors the device has (its MSI-X table size).
    fn msix_vectors(&self) -> u16;

    /// Sets up vectors `0..count` and returns one [`Interrupt`] per vector, in order. A count
    /// above [`InterruptSource::msix_vectors`] is refused ([`Error::TooFewVectors`]). Setting
    /// up again replaces the previous eventfds.
    fn enable_msix(&self, count: u16) -> Result<Vec<Interrupt>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_wakes_a_wait_and_is_consumed() {
        let irq = Interrupt::new().unwrap();
        let other = irq.try_clone().unwrap();
        assert!(!irq.wait(Duration::ZERO).unwrap(), "nothing signalled yet");
        other.signal();
        other.signal();
        assert!(irq.wait(Duration::from_secs(5)).unwrap());
        assert_eq!(irq.clear(), 0, "the wait consumed both signals");
        let t = std::time::Instant::now();
        assert!(!irq.wait(Duration::from_millis(20)).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(20));
    }
}
