//! # rixy: a user space network driver
//!
//! rixy runs the whole NIC driver inside the application's process, as the ixy paper
//! ("User Space Network Drivers", ANCS'19) describes: PCI BARs are mapped from sysfs, DMA memory
//! sits on huge pages, packet buffers come from a mempool and rings of DMA descriptors are
//! polled in batches. Drivers: the Intel 82599 family ([`ixgbe`]), the Intel 82576 ([`igb`]) and virtio-net, modern and legacy
//! ([`virtio`]); the 82599 also runs against a behavioural model ([`sim`]), which is what
//! `sim:N` addresses open.
//!
//! The driver is one call away from the application:
//!
//! ```no_run
//! use std::collections::VecDeque;
//!
//! // A PCI address opens real hardware (as root, with huge pages: ci/setup-hugepages);
//! // "sim:0" opens a simulated 82599 port anywhere.
//! let config = rixy::Config::default();
//! let mut rx = rixy::open("0000:03:00.0", &config)?;
//! let mut tx = rixy::open("0000:03:00.1", &config)?;
//! println!("{}: {} link {:?}", rx.name(), rx.mac(), rx.link());
//! let mut batch = VecDeque::with_capacity(32);
//! loop {
//!     rx.rx_batch(0, &mut batch, 32)?;
//!     tx.tx_batch(0, &mut batch)?;
//!     // Packets the transmit ring could not take go back to their pool, one lock per batch.
//!     rixy::Mempool::free_bulk(batch.drain(..));
//!     let stats = rx.stats(); // 64-bit running totals
//!     # let _ = stats;
//! }
//! # Ok::<(), rixy::Error>(())
//! ```
//!
//! Past one core, a device opened with several queues (`Config::rx_queues`, `tx_queues`) hands
//! them out as handles ([`Device::take_queues`]): a [`RxQueue`] and a [`TxQueue`] are `Send`,
//! so queue i of two ports is served by thread i with no lock on the packet path, while the
//! [`Device`] stays with the thread that reads its statistics. The 82599 spreads received flows
//! over its queues by RSS.
//!
//! Registers are data: every register, field and descriptor layout comes from the datasheet
//! files in `registers/`, turned into typed accessors by `build.rs`; see [`regs`].
//!
//! ## Cargo features
//!
//! - `apps` (on by default): the module `apps` (command lines with clap, the stats console,
//!   the pcap writer, Ctrl-C handling with ctrlc) and the programs `rixy-pktgen`, `rixy-fwd`
//!   and `rixy-pcap`. With `default-features = false` rixy is the driver alone: the drivers,
//!   the model and the test frame ([`frame`]), without clap and ctrlc.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// The unit tests of `device` include the integration tests' shared helpers, which name the
// crate `rixy` as every user of it does.
#[cfg(test)]
extern crate self as rixy;

pub(crate) mod adv;
#[cfg(feature = "apps")]
pub mod apps;
pub mod config;
mod device;
pub mod error;
pub mod frame;
pub mod igb;
pub mod interrupt;
pub mod ixgbe;
pub mod memory;
pub mod pci;
pub mod regs;
pub mod ring;
pub mod sim;
pub mod virtio;

pub use config::{Config, Link, MacAddress, QueueStats, Stats};
pub use device::{
    Device, RxQueue, SIM_FLOWS_PER_QUEUE, SIM_WAIT_SLICE, SimWire, TxQueue, open, wait_any,
};
pub use error::{Error, Result};
pub use interrupt::{Interrupt, InterruptSource};
pub use memory::{MemoryFootprint, Mempool, Packet, QueueMemory};
