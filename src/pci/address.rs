//! PCI addresses: the `DDDD:BB:DD.F` names sysfs and `lspci -D` give functions.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A PCI function's address: domain (segment), bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PciAddress {
    /// PCI domain (segment group).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// Device number, at most 0x1f.
    pub device: u8,
    /// Function number, at most 7.
    pub function: u8,
}

/// One part of a PCI address, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciAddressField {
    /// The domain, `DDDD`.
    Domain,
    /// The bus, `BB`.
    Bus,
    /// The device, `DD`.
    Device,
    /// The function, `F`.
    Function,
}

impl fmt::Display for PciAddressField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PciAddressField::Domain => "domain",
            PciAddressField::Bus => "bus",
            PciAddressField::Device => "device",
            PciAddressField::Function => "function",
        })
    }
}

/// What is wrong with a PCI address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PciAddressProblem {
    /// Nothing to parse.
    #[error("it is empty")]
    Empty,
    /// Spaces, tabs or newlines anywhere.
    #[error("it contains whitespace")]
    Whitespace,
    /// No `.F` at the end.
    #[error("the function number is missing (no '.')")]
    MissingFunction,
    /// A `.` before the device number.
    #[error("a '.' may only separate device and function")]
    MisplacedDot,
    /// Only one number before the `.`.
    #[error("bus and device must be separated by ':'")]
    MissingColon,
    /// More than three numbers before the `.`.
    #[error("too many ':'-separated parts")]
    TooManyColons,
    /// A part without digits.
    #[error("the {0} number is empty")]
    EmptyField(PciAddressField),
    /// A part with a character that is not a hex digit.
    #[error("the {field} number {text:?} is not hexadecimal")]
    NotHex {
        /// Which part.
        field: PciAddressField,
        /// Its text.
        text: String,
    },
    /// A part with more digits than it may have.
    #[error("the {field} number has more than {max_digits} hex digits")]
    TooLong {
        /// Which part.
        field: PciAddressField,
        /// How many digits it may have.
        max_digits: usize,
    },
    /// A device number above 0x1f (device numbers are 5 bits in a configuration address).
    #[error("device {0:#x} is above the maximum 0x1f")]
    DeviceOutOfRange(u8),
    /// A function number above 7 (function numbers are 3 bits).
    #[error("function {0} is above the maximum 7")]
    FunctionOutOfRange(u8),
}

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` (domain optional, all hex): the form `lspci -D` prints and sysfs
    /// names directories by.
    pub fn parse(text: &str) -> Result<PciAddress> {
        Self::parse_problem(text).map_err(|problem| Error::InvalidPciAddress {
            address: text.to_owned(),
            problem,
        })
    }

    fn parse_problem(text: &str) -> Result<PciAddress, PciAddressProblem> {
        use PciAddressField::*;
        use PciAddressProblem::*;
        if text.is_empty() {
            return Err(Empty);
        }
        if text.chars().any(char::is_whitespace) {
            return Err(Whitespace);
        }
        let (head, function) = text.rsplit_once('.').ok_or(MissingFunction)?;
        if head.contains('.') {
            return Err(MisplacedDot);
        }
        let parts: Vec<&str> = head.split(':').collect();
        let (domain, bus, device) = match parts[..] {
            [_] => return Err(MissingColon),
            [bus, device] => ("0", bus, device),
            [domain, bus, device] => (domain, bus, device),
            _ => return Err(TooManyColons),
        };
        let domain = hex_field(domain, Domain, 8)?;
        let bus = hex_field(bus, Bus, 2)? as u8;
        let device = hex_field(device, Device, 2)? as u8;
        let function = hex_field(function, Function, 1)? as u8;
        if device > 0x1f {
            return Err(DeviceOutOfRange(device));
        }
        if function > 7 {
            return Err(FunctionOutOfRange(function));
        }
        Ok(PciAddress {
            domain,
            bus,
            device,
            function,
        })
    }
}

/// Parses one hex part of at most `max_digits` digits (`from_str_radix` alone would accept a
/// leading `+`).
fn hex_field(
    text: &str,
    field: PciAddressField,
    max_digits: usize,
) -> Result<u32, PciAddressProblem> {
    if text.is_empty() {
        return Err(PciAddressProblem::EmptyField(field));
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PciAddressProblem::NotHex {
            field,
            text: text.to_owned(),
        });
    }
    if text.len() > max_digits {
        return Err(PciAddressProblem::TooLong { field, max_digits });
    }
    // At most 8 hex digits, all valid: this cannot fail.
    u32::from_str_radix(text, 16).map_err(|_| PciAddressProblem::TooLong { field, max_digits })
}

impl FromStr for PciAddress {
    type Err = Error;

    fn from_str(text: &str) -> Result<PciAddress> {
        PciAddress::parse(text)
    }
}

impl fmt::Display for PciAddress {
    /// The sysfs form, `0000:03:00.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let a = PciAddress::parse("0000:03:00.1").unwrap();
        assert_eq!(
            a,
            PciAddress {
                domain: 0,
                bus: 3,
                device: 0,
                function: 1
            }
        );
        assert_eq!(a.to_string(), "0000:03:00.1");
        assert_eq!(
            PciAddress::parse("3:1f.7").unwrap().to_string(),
            "0000:03:1f.7"
        );
        assert_eq!(
            PciAddress::parse("10000:E1:00.0").unwrap().to_string(),
            "10000:e1:00.0"
        );
    }
}
