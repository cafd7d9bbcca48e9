//! The one error type of rixy. Every message says what went wrong and, where there is one, what
//! the user can do about it.

use std::path::PathBuf;

/// Everything that can go wrong in rixy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A register window (BAR, port-IO resource) is smaller than the device's register space.
    #[error(
        "the {device} layout needs {needed:#x} bytes but its window has only {found:#x}: is this the right BAR or buffer?"
    )]
    BarTooSmall {
        /// Which device's register map was being placed on the window.
        device: &'static str,
        /// Bytes the register map needs.
        needed: usize,
        /// Bytes the window has.
        found: usize,
    },

    /// A field value does not fit the field it is meant for.
    #[error("value {value:#x} does not fit field {register}.{field} ({bits} bits)")]
    FieldOverflow {
        /// The register.
        register: &'static str,
        /// The field.
        field: &'static str,
        /// Width of the field in bits.
        bits: u32,
        /// The value that did not fit.
        value: u64,
    },

    /// A register-array index or other numbered item is out of range.
    #[error("{what} {index} is out of range: there are {count} (0 to {})", count - 1)]
    IndexOutOfRange {
        /// What was indexed.
        what: &'static str,
        /// The index given.
        index: usize,
        /// How many there are.
        count: usize,
    },

    /// An I/O error on a file the driver needs (sysfs, hugetlbfs, pagemap, port IO).
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What rixy was doing.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// rixy's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
