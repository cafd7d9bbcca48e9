//! Typed registers, generated from the datasheet files in `registers/`.
//!
//! `build.rs` turns every `registers/<device>.toml` into a module here ([`ixgbe`], [`virtio`],
//! [`pci`]): one bitfield module per register in tock-registers' shape (`RXDCTL::ENABLE::SET`), a
//! register block whose methods hand out typed handles (`regs.rxdctl(queue)`), index types for
//! register arrays, descriptor layouts with views, and constants. Every item's documentation names the
//! datasheet section it comes from, so `cargo doc` is a browsable datasheet.
//!
//! The handles sit on a [`Bus`]: [`Mmio`] for a mapped BAR or DMA memory, [`PortIo`] for a
//! legacy port-IO BAR reached through sysfs, or any other implementation (the 82599 simulator).
//! What a register's access mode forbids does not compile:
//!
//! | access   | handle                 | can                                                    |
//! |----------|------------------------|--------------------------------------------------------|
//! | `rw`     | [`Reg`]                | `get`, `read`, `is_set`, `extract`, `set`, `write`, `modify` |
//! | `ro`     | [`Reg`]                | reads only                                             |
//! | `wo`     | [`Reg`]                | writes only                                            |
//! | `w1c`, `w1s` | [`Reg`]            | reads; `set`/`write` of ones, no `modify`              |
//! | `rc`     | [`RcReg`]              | `take(&mut self)` only, handed out through `&mut` block |
//! | `rc_w1c` | [`RcReg`]              | `take`, and `set`/`write` of ones                      |
//!
//! ```
//! use rixy::regs::ixgbe::{RXDCTL, Registers, RxQueue, TXDCTL, TxQueue};
//! use rixy::regs::MemBus;
//! use tock_registers::interfaces::{ReadWriteable, Readable};
//!
//! let regs = Registers::new(MemBus::new(Registers::<MemBus>::SIZE)).unwrap();
//! let q = RxQueue::at::<3>();
//! regs.rxdctl(q).modify(RXDCTL::ENABLE::SET);
//! assert!(regs.rxdctl(q).is_set(RXDCTL::ENABLE));
//! regs.txdctl(TxQueue::at::<0>()).modify(TXDCTL::PTHRESH::value::<32>() + TXDCTL::HTHRESH::value::<1>());
//! ```

mod bus;
mod handle;

pub(crate) use bus::byte_copy_bus;
pub use bus::{Bus, DmaMaster, MemBus, Mmio, PortIo, Word};
pub use handle::{RcReg, Reg};

/// Access-mode markers of the typed handles. Which methods a handle has depends on its marker.
pub mod access {
    mod sealed {
        pub trait Sealed {}
    }
    /// Marker of access modes that allow a plain read.
    pub trait Readable: sealed::Sealed {}
    /// Marker of access modes that allow a plain write and so a read-modify-write.
    pub trait Writable: sealed::Sealed {}

    macro_rules! marker {
        ($(#[$doc:meta])* $name:ident: $($tr:ident),*) => {
            $(#[$doc])*
            #[derive(Clone, Copy, Debug)]
            pub struct $name;
            impl sealed::Sealed for $name {}
            $(impl $tr for $name {})*
        };
    }
    marker!(
        /// Read and write.
        Rw: Readable, Writable
    );
    marker!(
        /// Read only.
        Ro: Readable
    );
    marker!(
        /// Write only.
        Wo: Writable
    );
    marker!(
        /// Reading clears.
        Rc:
    );
    marker!(
        /// Reads plainly; writing a 1 clears that bit.
        W1c: Readable
    );
    marker!(
        /// Reads plainly; writing a 1 sets that bit.
        W1s: Readable
    );
    marker!(
        /// Reading clears; writing a 1 clears that bit too.
        RcW1c:
    );
}

/// A DMA descriptor layout declared in a datasheet file: its memory image is the implementing
/// type, and [`Descriptor::view`] gives typed access to one in device-shared memory.
pub trait Descriptor {
    /// The typed view of one descriptor, over MMIO-style volatile accesses.
    type View;
    /// Size in bytes.
    const SIZE: usize;
    /// Alignment in bytes.
    const ALIGN: usize;
    /// A view of the descriptor at `ptr`.
    ///
    /// # Safety
    /// `ptr` must be aligned to `ALIGN` and point to `SIZE` bytes of memory that stay mapped
    /// while the view is used and that no Rust reference points into.
    unsafe fn view(ptr: core::ptr::NonNull<u8>) -> Self::View;
}

/// A register's access mode as a value, for code that decodes accesses at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read and write.
    Rw,
    /// Read only.
    Ro,
    /// Write only.
    Wo,
    /// Reading clears.
    Rc,
    /// Writing a 1 clears that bit.
    W1c,
    /// Writing a 1 sets that bit.
    W1s,
    /// Reading clears; writing a 1 clears that bit too.
    RcW1c,
}

/// What a datasheet file declares of one register, for code that works by offset.
#[derive(Clone, Copy, Debug)]
pub struct RegisterInfo<Id: 'static> {
    /// The register's name.
    pub name: &'static str,
    /// Width in bits.
    pub width: u32,
    /// Access mode.
    pub access: Access,
    /// Value after reset.
    pub reset: u64,
    /// Datasheet or specification section.
    pub section: &'static str,
    /// One-line description.
    pub doc: &'static str,
    /// Number of elements (1 for a single register).
    pub count: usize,
    /// The register this one is another address of.
    pub alias_of: Option<Id>,
}

include!(concat!(env!("OUT_DIR"), "/registers.rs"));

/// The first pause of [`poll_until`]; each later one doubles, up to [`POLL_INTERVAL`] (driver
/// choice: a model and a healthy device finish most steps within microseconds).
const FIRST_PAUSE: std::time::Duration = std::time::Duration::from_micros(10);
/// The longest pause between two polls of [`poll_until`] (driver choice: ixy polls every 10 ms).
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Polls `done` until it holds, sleeping between polls, for at most `timeout`: a device that
/// never gets there is [`crate::Error::Timeout`] naming `device` and what it did not do
/// (`what`, with `hint`), never a hang. The drivers' datasheet steps (a reset clearing, a queue
/// enabling) wait through it.
pub(crate) fn poll_until(
    device: &str,
    what: &'static str,
    hint: &'static str,
    timeout: std::time::Duration,
    mut done: impl FnMut() -> bool,
) -> crate::Result<()> {
    let start = std::time::Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        if done() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(crate::Error::Timeout {
                device: device.to_string(),
                what,
                waited_ms: timeout.as_millis() as u64,
                hint,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(POLL_INTERVAL);
    }
}
