//! How a simulated port is made: its MAC address, timing, descriptor fetch and strictness.

/// How long delayed state changes take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Timing {
    /// Two reads of the register, no wall time: init completes after a few polls.
    #[default]
    Fast,
    /// Datasheet-like wall-clock delays (reset ≈ 1 ms, link ≈ 300 ms) and one read.
    Realistic,
}

/// When the device reads a descriptor it owns. The 82599 prefetches descriptors; either
/// moment is legal hardware behaviour, and a driver must work with both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fetch {
    /// Snapshot at the tail bump: later driver writes to owned descriptors are ignored.
    #[default]
    Eager,
    /// Read each descriptor when it is used.
    Lazy,
}

/// Configuration of one simulated port.
#[derive(Clone, Debug)]
pub struct PortConfig {
    /// MAC address in the EEPROM (`RAL`/`RAH[0]` after reset). The default address gets the port's
    /// number added to its last byte, so ports made with defaults differ.
    pub mac: [u8; 6],
    /// Delays of the delayed bits.
    pub timing: Timing,
    /// Descriptor fetch mode.
    pub fetch: Fetch,
    /// Strict mode: a tail written before ENABLE was read as 1 is ignored, and the MTA resets
    /// to garbage.
    pub strict: bool,
    /// Whether GPRC/GORC count frames later dropped for lack of descriptors or FIFO room (the
    /// Linux driver's "hardware counting issue"), or only frames that reach a ring.
    pub gprc_counts_drops: bool,
    /// The MSI-X vectors the port offers the host (its MSI-X table size): 64 on the 82599
    /// (datasheet 7.3.4); fewer stands for a host that grants fewer.
    pub msix_vectors: u16,
}

/// The MSI-X vectors of an 82599 port (datasheet 7.3.4), [`PortConfig::msix_vectors`]'s default.
pub const MSIX_VECTORS: u16 = 64;

/// The MAC address [`PortConfig::default`] uses (plus the port number in the last byte).
pub const DEFAULT_MAC: [u8; 6] = [0x02, 0x00, 0x5E, 0x10, 0x00, 0x00];

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            mac: DEFAULT_MAC,
            timing: Timing::Fast,
            fetch: Fetch::Eager,
            strict: false,
            gprc_counts_drops: true,
            msix_vectors: MSIX_VECTORS,
        }
    }
}
