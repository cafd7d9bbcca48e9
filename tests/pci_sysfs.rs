//! PCI address parsing, and PCI device handling against a fake sysfs tree in a temporary
//! directory. Nothing here touches the real /sys.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rixy::Error;
use rixy::pci::{
    Capability, ConfigFile, Msix, PciAddress, PciAddressField::*, PciAddressProblem,
    PciAddressProblem::*, PciDevice,
};
use rixy::regs::MemBus;
use rixy::regs::pci::cap_header::CAP_ID;
use rixy::regs::pci::msix_cap::{MESSAGE_CONTROL, PBA, TABLE};
use rixy::regs::pci::{Bar, COMMAND, ConfigSpace, STATUS, cap_header, msix_cap};
use tock_registers::interfaces::{Readable, Writeable};

#[test]
fn malformed_addresses_each_have_their_error() {
    let not_hex = |field, text: &str| NotHex {
        field,
        text: text.into(),
    };
    let cases: Vec<(&str, PciAddressProblem)> = vec![
        ("", Empty),
        (" 0000:03:00.0", Whitespace),
        ("0000:03:00.0\n", Whitespace),
        ("0000:03:00", MissingFunction),
        ("0000:03.00.0", MisplacedDot),
        ("00.0", MissingColon),
        ("0000:00:03:00.0", TooManyColons),
        ("0000:03:00.", EmptyField(Function)),
        ("0000::00.0", EmptyField(Bus)),
        (":03:00.0", EmptyField(Domain)),
        ("0000:03:.0", EmptyField(Device)),
        ("0000:0g:00.0", not_hex(Bus, "0g")),
        ("0000:+3:00.0", not_hex(Bus, "+3")),
        ("-000:03:00.0", not_hex(Domain, "-000")),
        ("0000:03:0x.0", not_hex(Device, "0x")),
        ("0000:03:00.f", FunctionOutOfRange(0xf)),
        ("0000:03:00.8", FunctionOutOfRange(8)),
        (
            "0000:03:00.10",
            TooLong {
                field: Function,
                max_digits: 1,
            },
        ),
        (
            "0000:003:00.0",
            TooLong {
                field: Bus,
                max_digits: 2,
            },
        ),
        (
            "0000:03:000.0",
            TooLong {
                field: Device,
                max_digits: 2,
            },
        ),
        (
            "123456789:03:00.0",
            TooLong {
                field: Domain,
                max_digits: 8,
            },
        ),
        ("0000:03:20.0", DeviceOutOfRange(0x20)),
        ("0000:03:ff.0", DeviceOutOfRange(0xff)),
    ];
    assert!(cases.len() >= 12);
    for (text, expected) in cases {
        match PciAddress::parse(text) {
            Err(Error::InvalidPciAddress { address, problem }) => {
                assert_eq!(address, text);
                assert_eq!(problem, expected, "for {text:?}");
                let msg = Error::InvalidPciAddress { address, problem }.to_string();
                assert!(msg.contains("DDDD:BB:DD.F"), "{msg}");
            }
            other => panic!("{text:?} gave {other:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn good_addresses_round_trip() {
    for (text, canonical) in [
        ("0000:03:00.0", "0000:03:00.0"),
        ("03:00.0", "0000:03:00.0"),
        ("0000:AF:1F.7", "0000:af:1f.7"),
        ("1:2:3.4", "0001:02:03.4"),
    ] {
        let a: PciAddress = text.parse().unwrap();
        assert_eq!(a.to_string(), canonical);
        assert_eq!(PciAddress::parse(canonical).unwrap(), a);
    }
}

const ADDR: &str = "0000:03:00.0";

/// A configuration space image laid out by the generated accessors of `registers/pci.toml`, for
/// a fake `config` file. Read-only registers are what a device sets and the typed handles do
/// not write, so those are placed at their handle's offset.
struct ConfigImage {
    regs: ConfigSpace<MemBus>,
}

impl ConfigImage {
    /// All zeros: no vendor, no capabilities.
    fn new() -> ConfigImage {
        ConfigImage::from_bytes(&[0; ConfigSpace::<MemBus>::SIZE])
    }

    fn from_bytes(bytes: &[u8]) -> ConfigImage {
        let bus = MemBus::new(bytes.len());
        bus.poke(0, bytes);
        ConfigImage {
            regs: ConfigSpace::new(bus).unwrap(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        self.regs.bus().peek(0, ConfigSpace::<MemBus>::SIZE)
    }

    fn put(&self, offset: usize, bytes: &[u8]) {
        self.regs.bus().poke(offset, bytes);
    }

    fn ids(self, vendor: u16, device: u16) -> ConfigImage {
        self.put(self.regs.vendor_id().offset(), &vendor.to_le_bytes());
        self.put(self.regs.device_id().offset(), &device.to_le_bytes());
        self
    }

    fn class(self, class: u8) -> ConfigImage {
        self.put(self.regs.base_class().offset(), &[class]);
        self
    }

    fn command(self, command: u16) -> ConfigImage {
        self.regs.command().set(command);
        self
    }

    /// Sets STATUS.CAPABILITIES_LIST and points CAPABILITIES_PTR at `first` (its byte as is,
    /// reserved low bits included).
    fn capability_list(self, first: u8) -> ConfigImage {
        self.regs.status().write(STATUS::CAPABILITIES_LIST::SET);
        self.put(self.regs.capabilities_ptr().offset(), &[first]);
        self
    }

    /// A capability header at `offset`: ID `id`, next pointer byte `next`.
    fn capability(self, offset: usize, id: u8, next: u8) -> ConfigImage {
        self.put(offset + cap_header::CAP_ID_OFFSET, &[id]);
        self.put(offset + cap_header::NEXT_PTR_OFFSET, &[next]);
        self
    }

    /// An MSI-X capability at `offset` (its header included).
    fn msix(self, offset: usize, next: u8, msix: &MsixFields) -> ConfigImage {
        let control = MESSAGE_CONTROL::TABLE_SIZE::val_checked(msix.vectors - 1).unwrap()
            + MESSAGE_CONTROL::ENABLE::val_checked(msix.enabled.into()).unwrap()
            + MESSAGE_CONTROL::FUNCTION_MASK::val_checked(msix.function_masked.into()).unwrap();
        let (bir, at) = msix.table;
        let table = TABLE::BIR::val_checked(bir).unwrap()
            + TABLE::OFFSET::val_checked(at >> TABLE::OFFSET::SHIFT).unwrap();
        let (bir, at) = msix.pba;
        let pba = PBA::BIR::val_checked(bir).unwrap()
            + PBA::OFFSET::val_checked(at >> PBA::OFFSET::SHIFT).unwrap();
        let words: [(usize, &[u8]); 3] = [
            (
                msix_cap::MESSAGE_CONTROL_OFFSET,
                &control.value.to_le_bytes(),
            ),
            (msix_cap::TABLE_OFFSET, &table.value.to_le_bytes()),
            (msix_cap::PBA_OFFSET, &pba.value.to_le_bytes()),
        ];
        for (word, bytes) in words {
            self.put(offset + word, bytes);
        }
        self.capability(offset, CAP_ID::ID::MSIX.value, next)
    }
}

/// What a fake MSI-X capability holds: table and pending bit array as (BIR, byte offset).
struct MsixFields {
    vectors: u16,
    table: (u32, u32),
    pba: (u32, u32),
    enabled: bool,
    function_masked: bool,
}

impl MsixFields {
    /// What the MSI-X reader must find for this capability at `offset`.
    fn at(&self, offset: usize) -> Msix {
        let bar = |bir: u32| Bar::new(bir as usize).unwrap();
        Msix {
            offset,
            vectors: self.vectors,
            table_bar: bar(self.table.0),
            table_offset: self.table.1,
            pba_bar: bar(self.pba.0),
            pba_offset: self.pba.1,
            enabled: self.enabled,
            function_masked: self.function_masked,
        }
    }
}

/// A NIC's MSI-X capability: 64 vectors, the table at 0 and the pending bits at 0x2000 of BAR3,
/// masked as a whole and not enabled yet.
const NIC_MSIX: MsixFields = MsixFields {
    vectors: 64,
    table: (3, 0),
    pba: (3, 0x2000),
    enabled: false,
    function_masked: true,
};

/// A fake sysfs device directory: `root/<addr>/{config, resource, resource0}`, optionally with a
/// `driver` link to `drivers/<name>` holding an empty `unbind` file, like the real tree.
struct FakeDevice {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
}

impl FakeDevice {
    fn new(class: u8, command: u16, driver: Option<&str>) -> FakeDevice {
        let config = ConfigImage::new()
            .ids(0x8086, 0x10fb)
            .class(class)
            .command(command);
        Self::with_config(&config, driver)
    }

    /// A device whose configuration space is `config`.
    fn with_config(config: &ConfigImage, driver: Option<&str>) -> FakeDevice {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("devices");
        let dir = root.join(ADDR);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("config"), config.bytes()).unwrap();
        fs::write(
            dir.join("resource"),
            "0x00000000fe000000 0x00000000fe07ffff 0x0000000000040200\n\
             0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
             0x000000000000c000 0x000000000000c01f 0x0000000000040101\n",
        )
        .unwrap();
        let mut bar = vec![0u8; 0x1000];
        bar[8..12].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        fs::write(dir.join("resource0"), &bar).unwrap();
        fs::write(dir.join("resource2"), [0u8; 32]).unwrap();
        if let Some(name) = driver {
            let drv = tmp.path().join("drivers").join(name);
            fs::create_dir_all(&drv).unwrap();
            fs::write(drv.join("unbind"), b"").unwrap();
            std::os::unix::fs::symlink(&drv, dir.join("driver")).unwrap();
        }
        FakeDevice {
            _tmp: tmp,
            root,
            dir,
        }
    }

    fn open(&self) -> rixy::Result<PciDevice> {
        PciDevice::open_in(&self.root, ADDR.parse().unwrap())
    }

    /// The command register as the `config` file holds it now.
    fn command(&self) -> u16 {
        let config = ConfigImage::from_bytes(&fs::read(self.dir.join("config")).unwrap());
        config.regs.command().get()
    }

    fn unbind_contents(&self, name: &str) -> String {
        let path: &Path = self._tmp.path();
        fs::read_to_string(path.join("drivers").join(name).join("unbind")).unwrap()
    }
}

#[test]
fn reads_ids_and_accepts_network_class() {
    let fake = FakeDevice::new(0x02, 0, None);
    let dev = fake.open().unwrap();
    assert_eq!(dev.vendor_id().unwrap(), 0x8086);
    assert_eq!(dev.device_id().unwrap(), 0x10fb);
    assert_eq!(dev.class_code().unwrap(), 0x02);
    dev.require_network_class().unwrap();
}

#[test]
fn refuses_other_classes_naming_address_and_class() {
    let fake = FakeDevice::new(0x01, 0, Some("nvme"));
    let dev = fake.open().unwrap();
    let err = dev.require_network_class().unwrap_err();
    assert!(
        matches!(err, Error::NotANetworkDevice { class: 0x01, address } if address.to_string() == ADDR),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(ADDR) && msg.contains("0x01"), "{msg}");
    // The class check does not unbind anything by itself.
    assert_eq!(fake.unbind_contents("nvme"), "");
}

#[test]
fn unbinds_the_bound_driver() {
    let fake = FakeDevice::new(0x02, 0, Some("ixgbe"));
    let dev = fake.open().unwrap();
    assert_eq!(dev.unbind_driver().unwrap().as_deref(), Some("ixgbe"));
    assert_eq!(fake.unbind_contents("ixgbe"), ADDR);
}

#[test]
fn no_driver_nothing_to_unbind() {
    let fake = FakeDevice::new(0x02, 0, None);
    assert_eq!(fake.open().unwrap().unbind_driver().unwrap(), None);
}

#[test]
fn bus_master_is_set_and_other_bits_kept() {
    let fake = FakeDevice::new(
        0x02,
        (COMMAND::MEMORY_SPACE::SET + COMMAND::INTERRUPT_DISABLE::SET).value,
        None,
    );
    let dev = fake.open().unwrap();
    dev.enable_bus_master().unwrap();
    assert_eq!(
        fake.command(),
        (COMMAND::MEMORY_SPACE::SET + COMMAND::INTERRUPT_DISABLE::SET + COMMAND::BUS_MASTER::SET)
            .value
    );
    // Idempotent.
    dev.enable_bus_master().unwrap();
    assert_eq!(
        fake.command() & COMMAND::BUS_MASTER::SET.value,
        COMMAND::BUS_MASTER::SET.value
    );
    // The rest of config space is untouched.
    assert_eq!(dev.vendor_id().unwrap(), 0x8086);
}

#[test]
fn no_such_device() {
    let fake = FakeDevice::new(0x02, 0, None);
    let other: PciAddress = "0000:04:00.0".parse().unwrap();
    let err = PciDevice::open_in(&fake.root, other).unwrap_err();
    assert!(
        matches!(&err, Error::NoSuchPciDevice { address, root } if *address == other && *root == fake.root),
        "{err:?}"
    );
    assert!(err.to_string().contains("0000:04:00.0"));
    // A directory without config space is not a device either.
    fs::remove_file(fake.dir.join("config")).unwrap();
    assert!(matches!(fake.open(), Err(Error::NoSuchPciDevice { .. })));
}

#[test]
fn maps_a_memory_bar() {
    let fake = FakeDevice::new(0x02, 0, None);
    let dev = fake.open().unwrap();
    let res = dev.resource(0).unwrap();
    assert!(res.is_memory());
    assert_eq!(res.len(), 0x80000);
    let bar = dev.map_bar(0).unwrap();
    assert_eq!(bar.len(), 0x1000);
    // SAFETY: offset 8 is inside the 0x1000-byte mapping of the fake BAR file, aligned for u32.
    let word = unsafe { bar.as_ptr().add(8).cast::<u32>().read_volatile() };
    assert_eq!(word, 0xdead_beef);
}

#[test]
fn io_bar_is_not_memory_mapped() {
    let fake = FakeDevice::new(0x02, 0, None);
    let dev = fake.open().unwrap();
    let err = dev.map_bar(2).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BarNotMemoryMapped {
                bar: 2,
                flags: 0x40101,
                ..
            }
        ),
        "{err:?}"
    );
    let (file, len) = dev.open_port_io(2).unwrap();
    assert_eq!(len, 32);
    file.write_all_at(&[0xaa], 4).unwrap();
    assert_eq!(fs::read(fake.dir.join("resource2")).unwrap()[4], 0xaa);
    // ... and a memory BAR is not port IO.
    assert!(matches!(
        dev.open_port_io(0),
        Err(Error::BarNotPortIo { bar: 0, .. })
    ));
}

#[test]
fn unimplemented_bars() {
    let fake = FakeDevice::new(0x02, 0, None);
    let dev = fake.open().unwrap();
    // BAR1: all zeros in `resource`, no flags.
    assert!(matches!(
        dev.map_bar(1),
        Err(Error::BarNotMemoryMapped {
            bar: 1,
            flags: 0,
            ..
        })
    ));
    // BAR3: no line in `resource`; BAR6 does not exist.
    assert!(matches!(
        dev.resource(3),
        Err(Error::BarUnusable { bar: 3, .. })
    ));
    assert!(matches!(
        dev.map_bar(6),
        Err(Error::BarUnusable { bar: 6, .. })
    ));
}

#[test]
fn the_generated_header_has_the_layout_of_figure_6_1() {
    // Every byte holds its own offset, so each typed read names the bytes it came from; the
    // offsets below are PCI 3.0 figure 6-1's, written out independently of registers/pci.toml.
    let bytes: Vec<u8> = (0..=255).collect();
    let c = ConfigImage::from_bytes(&bytes).regs;
    assert_eq!(c.vendor_id().get(), 0x0100);
    assert_eq!(c.device_id().get(), 0x0302);
    assert_eq!(c.command().get(), 0x0504);
    assert_eq!(c.status().get(), 0x0706);
    assert_eq!(c.revision_id().get(), 0x08);
    assert_eq!(
        (c.prog_if().get(), c.subclass().get(), c.base_class().get()),
        (0x09, 0x0a, 0x0b)
    );
    assert_eq!(c.header_type().get(), 0x0e);
    for bar in Bar::all() {
        let at = 0x10 + 4 * bar.get() as u32;
        let expected = u32::from_le_bytes([0, 1, 2, 3].map(|i| (at + i) as u8));
        assert_eq!(c.bar(bar).get(), expected, "BAR{bar}");
    }
    assert_eq!(c.subsystem_vendor_id().get(), 0x2d2c);
    assert_eq!(c.subsystem_id().get(), 0x2f2e);
    assert_eq!(c.capabilities_ptr().get(), 0x34);
    assert_eq!(c.interrupt_pin().get(), 0x3d);
    // The bits rixy acts on (6.2.2, 6.2.3), as the specification numbers them.
    assert_eq!(COMMAND::BUS_MASTER::SET.value, 1 << 2);
    assert_eq!(STATUS::CAPABILITIES_LIST::SET.value, 1 << 4);
    assert_eq!(cap_header::SIZE, 2);
    assert_eq!(
        (
            msix_cap::MESSAGE_CONTROL_OFFSET,
            msix_cap::TABLE_OFFSET,
            msix_cap::PBA_OFFSET
        ),
        (2, 4, 8)
    );
}

#[test]
fn a_config_file_that_ends_early_is_a_read_error() {
    let fake = FakeDevice::new(0x02, 0, None);
    let dev = fake.open().unwrap();
    // Keep the vendor ID only: the device ID read runs past the end of the file.
    let config = fs::OpenOptions::new()
        .write(true)
        .open(fake.dir.join("config"))
        .unwrap();
    config.set_len(2).unwrap();
    assert_eq!(dev.vendor_id().unwrap(), 0x8086);
    let err = dev.device_id().unwrap_err();
    assert!(
        matches!(&err, Error::Io { what: "read PCI config space", path, .. } if *path == fake.dir.join("config")),
        "{err:?}"
    );
    // The failure does not stick: the next good read works.
    assert_eq!(dev.vendor_id().unwrap(), 0x8086);
}

/// The problem `read` reports for a device with configuration space `config`, which must be a
/// malformed capability list.
fn malformed<T: std::fmt::Debug>(
    config: &ConfigImage,
    read: impl FnOnce(&ConfigFile) -> rixy::Result<T>,
) -> String {
    let fake = FakeDevice::with_config(config, None);
    match read(fake.open().unwrap().config()) {
        Err(Error::BadPciCapabilities { address, problem }) => {
            assert_eq!(address.to_string(), ADDR);
            problem
        }
        other => panic!("expected a malformed capability list, got {other:?}"),
    }
}

#[test]
fn walks_the_capability_list_and_reads_msix() {
    // Power management at 0x40, MSI-X at 0x50, PCI Express at 0x70. The pointers carry set
    // reserved bits 1:0, which the walk must ignore (6.7).
    let config = ConfigImage::new()
        .ids(0x8086, 0x10fb)
        .class(0x02)
        .capability_list(0x43)
        .capability(0x40, CAP_ID::ID::POWER_MANAGEMENT.value, 0x52)
        .msix(0x50, 0x71, &NIC_MSIX)
        .capability(0x70, CAP_ID::ID::PCI_EXPRESS.value, 0x00);
    let fake = FakeDevice::with_config(&config, None);
    let dev = fake.open().unwrap();
    let caps = dev.config().capabilities().unwrap();
    assert_eq!(
        caps,
        [
            Capability {
                id: 0x01,
                offset: 0x40
            },
            Capability {
                id: 0x11,
                offset: 0x50
            },
            Capability {
                id: 0x10,
                offset: 0x70
            },
        ]
    );
    assert_eq!(
        dev.config()
            .find_capability(CAP_ID::ID::PCI_EXPRESS)
            .unwrap(),
        Some(caps[2])
    );
    assert_eq!(dev.config().find_capability(CAP_ID::ID::MSI).unwrap(), None);
    assert_eq!(dev.config().msix().unwrap(), Some(NIC_MSIX.at(0x50)));
    // Reading capabilities writes nothing.
    assert_eq!(fs::read(fake.dir.join("config")).unwrap(), config.bytes());
}

#[test]
fn msix_fields_come_from_their_own_bits() {
    // The capability's words as raw bits, written out from PCI 3.0 6.8.2.3 to 6.8.2.5 rather
    // than through registers/pci.toml's fields: TABLE_SIZE in bits 10:0, FUNCTION_MASK bit 14,
    // ENABLE bit 15; a BIR in bits 2:0 and the QWORD-aligned offset above it. The table sits in
    // BAR0 at 0xfffffff8, the pending bits in BAR5 at 8.
    for (control, vectors, enabled, function_masked) in
        [(0x87ffu16, 2048, true, false), (0x4000, 1, false, true)]
    {
        let config =
            ConfigImage::new()
                .capability_list(0xf0)
                .capability(0xf0, CAP_ID::ID::MSIX.value, 0);
        config.put(
            0xf0 + msix_cap::MESSAGE_CONTROL_OFFSET,
            &control.to_le_bytes(),
        );
        config.put(0xf0 + msix_cap::TABLE_OFFSET, &0xffff_fff8u32.to_le_bytes());
        config.put(0xf0 + msix_cap::PBA_OFFSET, &0x0000_000du32.to_le_bytes());
        let fake = FakeDevice::with_config(&config, None);
        let found = fake.open().unwrap().config().msix().unwrap().unwrap();
        assert_eq!(
            found,
            Msix {
                offset: 0xf0,
                vectors,
                table_bar: Bar::at::<0>(),
                table_offset: 0xffff_fff8,
                pba_bar: Bar::at::<5>(),
                pba_offset: 8,
                enabled,
                function_masked,
            },
            "message control {control:#06x}"
        );
    }
}

#[test]
fn no_capabilities_unless_the_status_bit_says_so() {
    // A pointer and an MSI-X capability, but STATUS.CAPABILITIES_LIST clear: there is no list.
    let config = ConfigImage::new().msix(0x40, 0, &NIC_MSIX);
    config.put(config.regs.capabilities_ptr().offset(), &[0x40]);
    let fake = FakeDevice::with_config(&config, None);
    let dev = fake.open().unwrap();
    assert_eq!(dev.config().capabilities().unwrap(), []);
    assert_eq!(dev.config().msix().unwrap(), None);
    // An empty list, and a list without MSI-X.
    for config in [
        ConfigImage::new().capability_list(0),
        ConfigImage::new()
            .capability_list(0x40)
            .capability(0x40, CAP_ID::ID::MSI.value, 0),
    ] {
        let fake = FakeDevice::with_config(&config, None);
        assert_eq!(fake.open().unwrap().config().msix().unwrap(), None);
    }
}

#[test]
fn a_looping_capability_list_is_an_error() {
    // 0x40 -> 0x50 -> 0x40 -> ...
    let config = ConfigImage::new()
        .capability_list(0x40)
        .capability(0x40, CAP_ID::ID::POWER_MANAGEMENT.value, 0x50)
        .msix(0x50, 0x40, &NIC_MSIX);
    assert_eq!(
        malformed(&config, ConfigFile::capabilities),
        "the next pointer of the capability at 0x50 points back to the capability at 0x40: the list loops"
    );
    // Every way in walks the whole list, so none of them loops forever either.
    malformed(&config, |c| c.find_capability(CAP_ID::ID::MSIX));
    malformed(&config, ConfigFile::msix);
    let fake = FakeDevice::with_config(&config, None);
    let msg = fake
        .open()
        .unwrap()
        .config()
        .msix()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(ADDR) && msg.contains("malformed capability list") && msg.contains("loops"),
        "{msg}"
    );
    // A capability that points to itself.
    let config = ConfigImage::new().capability_list(0xfc).capability(
        0xfc,
        CAP_ID::ID::VENDOR_SPECIFIC.value,
        0xff,
    );
    assert!(malformed(&config, ConfigFile::capabilities).contains("at 0xfc: the list loops"));
}

#[test]
fn a_pointer_into_the_header_is_an_error() {
    let config = ConfigImage::new().capability_list(0x40).capability(
        0x40,
        CAP_ID::ID::POWER_MANAGEMENT.value,
        0x10,
    );
    assert_eq!(
        malformed(&config, ConfigFile::capabilities),
        "the next pointer of the capability at 0x40 points to 0x10, inside the 64-byte header"
    );
    let config = ConfigImage::new().capability_list(0x3c);
    assert_eq!(
        malformed(&config, ConfigFile::capabilities),
        "CAPABILITIES_PTR points to 0x3c, inside the 64-byte header"
    );
}

#[test]
fn a_bad_msix_capability_is_an_error() {
    // BIRs 6 and 7 are reserved: 0 to 5 name BAR0 to BAR5.
    let with = |msix: MsixFields| {
        ConfigImage::new()
            .capability_list(0x40)
            .msix(0x40, 0, &msix)
    };
    let bad_table = with(MsixFields {
        table: (7, 0),
        ..NIC_MSIX
    });
    assert_eq!(
        malformed(&bad_table, ConfigFile::msix),
        "the MSI-X capability at 0x40 puts its table in BAR 7, and BARs are 0 to 5"
    );
    let bad_pba = with(MsixFields {
        pba: (6, 0),
        ..NIC_MSIX
    });
    assert!(malformed(&bad_pba, ConfigFile::msix).contains("pending bit array in BAR 6"));
    // An MSI-X capability at 0xf8 would end at 0x104, past the 256 bytes of config space.
    let config =
        ConfigImage::new()
            .capability_list(0xf8)
            .capability(0xf8, CAP_ID::ID::MSIX.value, 0);
    assert_eq!(
        malformed(&config, ConfigFile::msix),
        "the MSI-X capability at 0xf8 runs past the end of the 256-byte configuration space"
    );
}

#[test]
fn capabilities_unreadable_past_the_header_are_a_read_error() {
    // Without root, Linux gives only the first 64 bytes of `config`: a list that starts there
    // cannot be walked, and the error says which file failed rather than reading all ones.
    let config = ConfigImage::new()
        .capability_list(0x40)
        .msix(0x40, 0, &NIC_MSIX);
    let fake = FakeDevice::with_config(&config, None);
    fs::write(fake.dir.join("config"), &config.bytes()[..0x40]).unwrap();
    let dev = fake.open().unwrap();
    for err in [
        dev.config().capabilities().unwrap_err(),
        dev.config().msix().unwrap_err(),
    ] {
        assert!(
            matches!(
                &err,
                Error::Io {
                    what: "read PCI config space",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
