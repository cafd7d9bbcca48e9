//! PCI configuration space (PCI Local Bus Specification 3.0, chapter 6) through a function's sysfs
//! `config` file, read and written with the accessors generated from `registers/pci.toml`
//! ([`crate::regs::pci`]).
//!
//! Every register access is one `pread` or `pwrite` of the register's width at its offset, which
//! the kernel turns into one configuration access. The typed accessors cannot return errors, so
//! [`ConfigFile::access`] runs a closure on the registers and hands back what it returned or the
//! first I/O error of its accesses.
//!
//! Capabilities (6.7) sit wherever a list that starts at CAPABILITIES_PTR says.
//! [`ConfigFile::capabilities`] walks that list, [`ConfigFile::find_capability`] finds one by ID and
//! [`ConfigFile::msix`] reads the MSI-X capability (6.8.2). `registers/pci.toml` declares each
//! capability's layout as a descriptor; a [`ConfigBus`] window that starts at the capability is
//! the bus its view reads through.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;
use tock_registers::interfaces::Readable;

use super::PciAddress;
use crate::error::{Error, Result};
use crate::regs::byte_copy_bus;
use crate::regs::pci::cap_header::{CAP_ID, NEXT_PTR};
use crate::regs::pci::msix_cap::{MESSAGE_CONTROL, PBA, TABLE};
use crate::regs::pci::{
    Bar, CAPABILITIES_PTR, ConfigSpace, HEADER_SIZE, STATUS, cap_header, msix_cap,
};

/// Bytes of configuration space (6.1).
const SIZE: usize = ConfigSpace::<ConfigBus<'static>>::SIZE;

/// DWORDs of configuration space: the places a capability may start (6.7: capabilities are DWORD
/// aligned).
const DWORDS: usize = SIZE >> NEXT_PTR::POINTER::SHIFT;

/// The first I/O error of the accesses through a set of windows, with what was being done.
type Failure = RefCell<Option<(&'static str, io::Error)>>;

/// A function's configuration space in its sysfs `config` file.
#[derive(Debug)]
pub struct ConfigFile {
    file: File,
    path: PathBuf,
    address: PciAddress,
    /// Offset of configuration space in `file`: 0 for sysfs `config`, the config region's
    /// offset for a VFIO device file.
    region: usize,
}

/// A window of configuration space, the bus the generated accessors read and write through:
/// offset 0 of the window is byte `base` of the `config` file. Every access is one `pread` or
/// `pwrite` of its width; a read that fails returns all ones (what a function that is not there
/// answers) and the error is kept for [`ConfigFile::access`] to return.
#[derive(Debug)]
pub struct ConfigBus<'a> {
    file: &'a File,
    base: usize,
    len: usize,
    failure: &'a Failure,
}

impl ConfigBus<'_> {
    fn fail(&self, what: &'static str, err: io::Error) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some((what, err));
        }
    }

    fn read<const N: usize>(&self, offset: usize) -> [u8; N] {
        let mut bytes = [0u8; N];
        let at = (self.base + offset) as u64;
        if let Err(err) = self.file.read_exact_at(&mut bytes, at) {
            self.fail("read PCI config space", err);
            bytes = [0xff; N];
        }
        bytes
    }

    fn write(&self, offset: usize, bytes: &[u8]) {
        let at = (self.base + offset) as u64;
        if let Err(err) = self.file.write_all_at(bytes, at) {
            self.fail("write PCI config space", err);
        }
    }
}

// Configuration accesses need no alignment of their own: every access is one `pread` or `pwrite`
// of the file at the window's base plus its offset.
byte_copy_bus!(ConfigBus<'_>, |bus| bus.len, read, write);

/// One entry of a function's capability list (6.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// The capability ID (appendix H); [`cap_header::CAP_ID::ID`](mod@cap_header::CAP_ID::ID) names the ones rixy knows.
    pub id: u8,
    /// Byte offset of the capability in configuration space.
    pub offset: usize,
}

/// What a function's MSI-X capability (6.8.2) says: how many vectors it has, where their table and
/// pending bits sit in its BARs, and whether MSI-X is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msix {
    /// Byte offset of the capability in configuration space.
    pub offset: usize,
    /// Entries of the MSI-X table, one per vector: TABLE_SIZE + 1, 1 to 2048 (6.8.2.3).
    pub vectors: u16,
    /// The BAR that holds the table (6.8.2.4).
    pub table_bar: Bar,
    /// Byte offset of the table in that BAR, QWORD aligned.
    pub table_offset: u32,
    /// The BAR that holds the pending bit array (6.8.2.5).
    pub pba_bar: Bar,
    /// Byte offset of the pending bit array in that BAR, QWORD aligned.
    pub pba_offset: u32,
    /// MESSAGE_CONTROL.ENABLE: the function signals its interrupts with MSI-X.
    pub enabled: bool,
    /// MESSAGE_CONTROL.FUNCTION_MASK: every vector of the function is masked.
    pub function_masked: bool,
}

impl ConfigFile {
    /// The configuration space of the function at `address`, open read-write in `file` (its
    /// sysfs `config` file at `path`).
    pub(super) fn new(file: File, path: PathBuf, address: PciAddress) -> ConfigFile {
        ConfigFile {
            file,
            path,
            address,
            region: 0,
        }
    }

    /// The configuration space of the function at `address` that starts at byte `region` of
    /// `file` (a VFIO device file, whose config region is at `region`; `path` names it in
    /// errors).
    pub(super) fn in_region(
        file: File,
        path: PathBuf,
        address: PciAddress,
        region: usize,
    ) -> ConfigFile {
        ConfigFile {
            file,
            path,
            address,
            region,
        }
    }

    /// Runs `access` on the registers of configuration space and returns what it returned, or
    /// the first I/O error of its accesses (a read that failed gave `access` all ones).
    pub fn access<T>(&self, access: impl FnOnce(&ConfigSpace<ConfigBus<'_>>) -> T) -> Result<T> {
        self.window(0, SIZE, |bus| ConfigSpace::new(bus).map(|c| access(&c)))
    }

    /// Runs `access` on a window of `len` bytes at `base`, which lies inside configuration
    /// space; returns what it returned, or the first I/O error of its accesses.
    fn window<T>(
        &self,
        base: usize,
        len: usize,
        access: impl FnOnce(ConfigBus<'_>) -> Result<T>,
    ) -> Result<T> {
        let failure = Failure::default();
        let value = access(ConfigBus {
            file: &self.file,
            base: self.region + base,
            len,
            failure: &failure,
        });
        match failure.into_inner() {
            Some((what, err)) => Err(Error::io(what, &self.path, err)),
            None => value,
        }
    }

    /// The capability list (6.7), in list order: empty when STATUS.CAPABILITIES_LIST says the
    /// function has none.
    ///
    /// The walk is bounded: every entry must start at a DWORD after the 64-byte header that the
    /// walk has not visited yet, so it ends after at most 48 entries. A list that points into the
    /// header or back to an entry it already passed is an error naming the pointer.
    pub fn capabilities(&self) -> Result<Vec<Capability>> {
        let first = self.access(|c| {
            c.status()
                .is_set(STATUS::CAPABILITIES_LIST)
                .then(|| c.capabilities_ptr().read(CAPABILITIES_PTR::POINTER))
        })?;
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut next = usize::from(first) << CAPABILITIES_PTR::POINTER::SHIFT;
        let mut pointer = "CAPABILITIES_PTR".to_string();
        let mut visited = [false; DWORDS];
        let mut list = Vec::new();
        while next != 0 {
            if next < HEADER_SIZE {
                return Err(self.malformed(format!(
                    "{pointer} points to {next:#04x}, inside the {HEADER_SIZE}-byte header"
                )));
            }
            // `next` is a 6-bit DWORD number shifted into place: always below SIZE.
            let seen = &mut visited[next >> NEXT_PTR::POINTER::SHIFT];
            if *seen {
                return Err(self.malformed(format!(
                    "{pointer} points back to the capability at {next:#04x}: the list loops"
                )));
            }
            *seen = true;
            let (id, after) = self.window(next, cap_header::SIZE, |bus| {
                let cap = cap_header::View::new(bus)?;
                Ok((
                    cap.cap_id().read(CAP_ID::ID),
                    cap.next_ptr().read(NEXT_PTR::POINTER),
                ))
            })?;
            list.push(Capability { id, offset: next });
            pointer = format!("the next pointer of the capability at {next:#04x}");
            next = usize::from(after) << NEXT_PTR::POINTER::SHIFT;
        }
        Ok(list)
    }

    /// The first capability with ID `id` (e.g. [`CAP_ID::ID::MSIX`]), if the function has one.
    /// An error if the capability list is malformed anywhere.
    pub fn find_capability(
        &self,
        id: FieldValue<u8, CAP_ID::Register>,
    ) -> Result<Option<Capability>> {
        Ok(self
            .capabilities()?
            .into_iter()
            .find(|cap| LocalRegisterCopy::<u8, CAP_ID::Register>::new(cap.id).matches_all(id)))
    }

    /// The function's MSI-X capability (6.8.2), if it has one. An error if the capability list
    /// is malformed, the capability runs past the end of configuration space, or a BIR names no
    /// BAR.
    pub fn msix(&self) -> Result<Option<Msix>> {
        let Some(cap) = self.find_capability(CAP_ID::ID::MSIX)? else {
            return Ok(None);
        };
        if cap.offset + msix_cap::SIZE > SIZE {
            return Err(self.malformed(format!(
                "the MSI-X capability at {:#04x} runs past the end of the {SIZE}-byte configuration space",
                cap.offset
            )));
        }
        let (control, table, pba) = self.window(cap.offset, msix_cap::SIZE, |bus| {
            let msix = msix_cap::View::new(bus)?;
            Ok((
                msix.message_control().extract(),
                msix.table().extract(),
                msix.pba().extract(),
            ))
        })?;
        let bar = |what: &str, bir: u32| {
            usize::try_from(bir).ok().and_then(Bar::new).ok_or_else(|| {
                self.malformed(format!(
                    "the MSI-X capability at {:#04x} puts its {what} in BAR {bir}, and BARs are 0 to {}",
                    cap.offset,
                    Bar::COUNT - 1
                ))
            })
        };
        Ok(Some(Msix {
            offset: cap.offset,
            vectors: control.read(MESSAGE_CONTROL::TABLE_SIZE) + 1,
            table_bar: bar("table", table.read(TABLE::BIR))?,
            table_offset: table.read(TABLE::OFFSET) << TABLE::OFFSET::SHIFT,
            pba_bar: bar("pending bit array", pba.read(PBA::BIR))?,
            pba_offset: pba.read(PBA::OFFSET) << PBA::OFFSET::SHIFT,
            enabled: control.is_set(MESSAGE_CONTROL::ENABLE),
            function_masked: control.is_set(MESSAGE_CONTROL::FUNCTION_MASK),
        }))
    }

    fn malformed(&self, problem: String) -> Error {
        Error::BadPciCapabilities {
            address: self.address,
            problem,
        }
    }
}
