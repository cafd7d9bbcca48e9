//! PCI address parsing, and PCI device handling against a fake sysfs tree in a temporary
//! directory. Nothing here touches the real /sys.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rixy::Error;
use rixy::pci::{
    PciAddress, PciAddressField::*, PciAddressProblem, PciAddressProblem::*, PciDevice,
    config_space,
};

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

/// A fake sysfs device directory: `root/<addr>/{config, resource, resource0}`, optionally with a
/// `driver` link to `drivers/<name>` holding an empty `unbind` file, like the real tree.
struct FakeDevice {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: PathBuf,
}

impl FakeDevice {
    fn new(class: u8, command: u16, driver: Option<&str>) -> FakeDevice {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("devices");
        let dir = root.join(ADDR);
        fs::create_dir_all(&dir).unwrap();
        let mut config = vec![0u8; 256];
        config[0..2].copy_from_slice(&0x8086u16.to_le_bytes());
        config[2..4].copy_from_slice(&0x10fbu16.to_le_bytes());
        config[4..6].copy_from_slice(&command.to_le_bytes());
        config[0x0a] = 0x00;
        config[0x0b] = class;
        fs::write(dir.join("config"), &config).unwrap();
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

    fn command(&self) -> u16 {
        let mut b = [0u8; 2];
        fs::File::open(self.dir.join("config"))
            .unwrap()
            .read_exact_at(&mut b, config_space::COMMAND)
            .unwrap();
        u16::from_le_bytes(b)
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
        config_space::COMMAND_MEMORY_SPACE | config_space::COMMAND_INTX_DISABLE,
        None,
    );
    let dev = fake.open().unwrap();
    dev.enable_bus_master().unwrap();
    assert_eq!(
        fake.command(),
        config_space::COMMAND_MEMORY_SPACE
            | config_space::COMMAND_INTX_DISABLE
            | config_space::COMMAND_BUS_MASTER
    );
    // Idempotent.
    dev.enable_bus_master().unwrap();
    assert_eq!(
        fake.command() & config_space::COMMAND_BUS_MASTER,
        config_space::COMMAND_BUS_MASTER
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
