//! # rixy: a user space network driver
//!
//! rixy runs the whole NIC driver inside the application's process, as the ixy paper
//! ("User Space Network Drivers", ANCS'19) describes: PCI BARs are mapped from sysfs, DMA memory
//! sits on huge pages, packet buffers come from a mempool and rings of DMA descriptors are
//! polled in batches.
//!
//! Registers are data: every register, field and descriptor layout comes from the datasheet
//! files in `registers/`, turned into typed accessors by `build.rs`; see [`regs`].

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod device;
pub mod error;
pub mod ixgbe;
pub mod memory;
mod open;
pub mod pci;
pub mod regs;
pub mod ring;
pub mod sim;
pub mod virtio;

pub use device::{Config, Link, MacAddress, Stats};
pub use error::{Error, Result};
pub use memory::{Mempool, Packet};
pub use open::{Device, SimWire, open};
